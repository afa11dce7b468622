"""Schemathesis against a running sinkhole, from the schema it serves (GET /api/v1/openapi.json):
generated requests to every native route never get a 5xx, and every status is one the document lists.

Bounded: at most 15 generated cases per operation in each phase, the run killed after 90 s. Set
SCHEMATHESIS_SEED to repeat a run (the output ends with the seed it used).
"""

from __future__ import annotations

import os
import subprocess
import sys

# Not generated: the wait's `timeout` (a valid one can hold a request for up to 5 minutes; the
# count, and so the 200/400/408 paths, still vary).
CONFIG = """\
[[operations]]
include-operation-id = "waitForMessages"
parameters = { "query.timeout" = "10ms" }
"""


def test_generated_requests_get_no_5xx_and_only_documented_statuses(sinkhole, tmp_path):
    import schemathesis  # noqa: F401  (`make deps` installs schemathesis)

    server = sinkhole("--mode", "accept", "--capture", "memory", "--test-clock")
    base = f"http://127.0.0.1:{server.http_port}"
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", f"{base}/api/v1/openapi.json", "--url", base,
        "--checks", "not_a_server_error,status_code_conformance",
        "--max-examples", "15",
        # A stream that stays open until sinkhole stops: nothing to check in one response.
        "--exclude-operation-id", "streamEvents",
        "--request-timeout", "20",
        "--generation-database", "none",
    ]
    if os.environ.get("SCHEMATHESIS_SEED"):
        command += ["--seed", os.environ["SCHEMATHESIS_SEED"]]
    # In tmp_path: whatever schemathesis writes stays out of the repository.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=90)
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, output[-30000:]
    assert "Operations:" in output and "Test cases:" in output, output[-5000:]
    server.assert_alive()
