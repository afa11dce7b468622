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


# -- --stdio, as inetd and swaks --pipe run a server ---------------------

def stdio_command(*args: str) -> str:
    from conftest import binary_path
    return " ".join([str(binary_path()), "--stdio", "--hostname", "stdio.test", *args])


def test_swaks_pipe_drives_one_session_on_stdin_and_stdout():
    result = subprocess.run(["swaks", "--pipe", stdio_command("--mode", "accept"), "--to", "b@example.com",
                             "--from", "a@example.com", "--timeout", "20"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<-  220 stdio.test ESMTP sinkhole" in result.stdout
    assert "<-  250 2.0.0 OK queued as " in result.stdout and "<-  221 2.0.0 Bye" in result.stdout
    # The log goes to stderr (swaks shows the child's), stdout being the session.
    assert '"event":"connection"' in result.stdout + result.stderr and '"event":"stopped"' in result.stdout + result.stderr


def test_swaks_pipe_sees_a_bounce():
    result = subprocess.run(["swaks", "--pipe", stdio_command("--mode", "bounce"), "--to", "b@example.com",
                             "--from", "a@example.com", "--timeout", "20"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 24, result.stdout  # swaks: the recipient was refused
    assert "<** 550 5.1.1 User unknown" in result.stdout


def test_stdio_refuses_a_regular_file_for_output(tmp_path):
    from conftest import binary_path
    out = tmp_path / "out"
    with open(out, "w") as sink:
        result = subprocess.run([str(binary_path()), "--stdio"], stdout=sink,
                                stderr=subprocess.PIPE, text=True, timeout=30, input="QUIT\r\n")
    assert result.returncode == 1
    assert "cannot serve on standard input and output" in result.stderr and "must be pipes or sockets" in result.stderr
