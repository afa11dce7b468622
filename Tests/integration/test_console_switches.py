"""smtp-sink's terminal and socket switches: --counters (-c), --show-conversation
(-v), --syslog-commands (-s) and --tcp-window (-T)."""

from __future__ import annotations

import re
import shutil
import smtplib
import subprocess
import time

import pytest

from conftest import CLIENT_NAME


def deliver(server, count: int = 2) -> None:
    for _ in range(count):
        with smtplib.SMTP("127.0.0.1", server.port, local_hostname=CLIENT_NAME, timeout=15) as client:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nbody\r\n")
            client.quit()


def stderr_text(server, predicate, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = "\n".join(server.stderr_lines)
        if predicate(text):
            return text
        assert time.monotonic() < deadline, f"stderr never matched: {text[-2000:]!r}"
        time.sleep(0.02)


def test_counters_as_smtp_sink_writes_them(sinkhole):
    server = sinkhole("--mode", "accept", "--counters")
    deliver(server)
    server.wait_for_logs(lambda e: e.get("event") == "connection", 2)
    # The counters end in a carriage return, not a newline: stderr is read line by line, so to its end.
    server.terminate()
    assert server.wait(timeout=15) == 0
    text = stderr_text(server, lambda t: "sess=2 quit=2 mesg=2\r" in t)
    counters = re.findall(r"sess=\d+ quit=\d+ mesg=\d+\r", text)
    # After each ".", QUIT and session end, as smtp-sink -c (its stdout; sinkhole's stdout is the log).
    assert counters == ["sess=0 quit=0 mesg=1\r", "sess=0 quit=1 mesg=1\r", "sess=1 quit=1 mesg=1\r",
                        "sess=1 quit=1 mesg=2\r", "sess=1 quit=2 mesg=2\r", "sess=2 quit=2 mesg=2\r"]


def test_show_conversation_writes_each_command_and_reply_line(sinkhole):
    server = sinkhole("--mode", "accept", "--show-conversation", "--auth")
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname=CLIENT_NAME, timeout=15) as client:
        client.ehlo(CLIENT_NAME)
        client.login("alice@example.com", "s3cret-password")
        client.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nbody\r\n")
        client.quit()
    text = stderr_text(server, lambda t: "disconnect" in t)
    lines = [line.split(" ", 2)[2] for line in text.splitlines() if line.startswith("sinkhole: 127.0.0.1:")]
    assert lines[0] == "connect" and lines[1].startswith("> 220 ")
    assert "< ehlo client.test" in lines and "> 250-PIPELINING" in lines and "> 250 2.1.5 OK" in lines
    assert "< ." in lines and lines[-2:] == ["> 221 2.0.0 Bye", "disconnect"]
    assert "s3cret-password" not in text and "czNjcmV0" not in text, "no secret on stderr"
    # smtplib picks CRAM-MD5: the command, then the response, which is not shown.
    assert any(line.startswith("< AUTH ") for line in lines) and "< <AUTH response, not kept>" in lines, lines


def test_syslog_commands_become_log_lines(sinkhole):
    server = sinkhole("--mode", "accept", "--syslog-commands", "CONNECT, mail .")
    deliver(server, 1)
    lines = server.wait_for_logs(lambda e: e.get("event") == "command", 3)
    assert [line["command"] for line in lines] == ["CONNECT", "mail FROM:<a@example.com> size=20", "."]
    from conftest import run_sinkhole
    result = run_sinkhole("--syslog-commands", "MAIL,SEND", "--listen", "127.0.0.1:0")
    assert result.returncode == 2 and 'unknown command "SEND"' in str(result.stderr)


def test_tcp_window_sets_each_connections_receive_buffer(sinkhole):
    if not shutil.which("ss"):
        pytest.skip("ss (iproute2) is not installed")
    server = sinkhole("--mode", "accept", "--tcp-window", "4096")
    client = server.raw()
    assert client.reply()[0] == 220
    output = subprocess.run(["ss", "-tnm", "state", "established", f"( sport = :{server.port} )"],
                            capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"skmem:\(r\d+,rb(\d+),", output)
    assert match, output
    # Linux doubles what SO_RCVBUF asks for (for its bookkeeping): 8192 for 4096.
    assert int(match.group(1)) == 8192, output
    from conftest import run_sinkhole
    result = run_sinkhole("--tcp-window", "70000", "--listen", "127.0.0.1:0")
    assert result.returncode == 2 and "a size in bytes from 1 to 65535" in str(result.stderr)
