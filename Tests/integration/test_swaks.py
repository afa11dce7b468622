"""swaks, another client nobody here wrote, as the README tells users to run it."""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed (make deps)")


def run_swaks(server) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["swaks", "--to", "x@sinkhole.test", "--server", f"{server.host}:{server.port}", "--timeout", "20"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_swaks_against_accept_mode(sinkhole):
    server = sinkhole("--mode", "accept-log")
    result = run_swaks(server)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "<-  250 2.0.0 OK queued as " in output
    assert "<-  221 2.0.0 Bye" in output
    logged = server.wait_for_log(lambda e: e["event"] == "message")
    assert logged["rcpt"] == ["<x@sinkhole.test>"]
    assert f"queued as {logged['queue_id']}" in output


def test_swaks_against_bounce_mode(sinkhole):
    server = sinkhole("--mode", "bounce")
    result = run_swaks(server)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "550 5.1.1 User unknown" in output


def test_swaks_against_defer_mode(sinkhole):
    server = sinkhole()
    result = run_swaks(server)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "421 4.3.2 Service temporarily unavailable" in output
