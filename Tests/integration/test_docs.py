"""The configuration reference matches `sinkhole --help`: every option, its environment variable and its key."""

from __future__ import annotations

import re

from conftest import REPO_ROOT, run_sinkhole


def help_options() -> set[str]:
    result = run_sinkhole("--help")
    assert result.returncode == 0, result
    options = set(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", result.stdout.decode(), re.MULTILINE))
    return options - {"--help"}


def reference_rows() -> dict[str, str]:
    text = (REPO_ROOT / "docs" / "configuration.md").read_text()
    options = text.split("## Options", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `(--[a-z0-9-]+)[^|]*\|.*$", options, re.MULTILINE)}


def test_every_option_of_help_is_in_the_reference_and_no_other():
    options = help_options()
    assert "--http-listen" in options and "--max-errors" in options, options
    assert set(reference_rows()) - {"--help"} == options


def test_every_reference_row_names_its_environment_variable_and_config_key():
    for option, row in reference_rows().items():
        if option in ("--help", "--config"):
            continue
        name = option[2:]
        variable = "SINKHOLE_" + name.upper().replace("-", "_")
        assert f"`{variable}`" in row, (option, row)
        assert f"`{name}`" in row, (option, row)
