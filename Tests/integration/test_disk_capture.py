"""Capture to disk: --maildir, and smtp-sink's dump files (--dump-each as its
-d, --dump-append as its -D, --dump-prefix as its -S).

A Maildir is read with Python's own `mailbox.Maildir`; a dump file is compared
field by field with what Postfix's smtp-sink writes for the same session, both
servers running in the test. A message answered 250 is on disk: the test kills
sinkhole with SIGKILL the moment the 250 arrives, then reads the file.
"""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from conftest import CLIENT_NAME, QUEUE_ID, RawClient

MESSAGE = b"Subject: on disk\r\nMessage-ID: <disk@example.com>\r\n\r\nfirst line\r\n..a dotted line\r\nlast\r\n"


def send(port: int, message: bytes = MESSAGE, *, sender="a@example.com", recipients=("b@example.com", "c@example.com"),
         mail_options=("BODY=8BITMIME",), rcpt_options=("NOTIFY=SUCCESS,FAILURE",)) -> dict:
    with smtplib.SMTP("127.0.0.1", port, local_hostname=CLIENT_NAME, timeout=15) as client:
        client.ehlo(CLIENT_NAME)
        refused = client.sendmail(sender, list(recipients), message, mail_options=list(mail_options),
                                  rcpt_options=list(rcpt_options))
        client.quit()
    return refused


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# -- Maildir --------------------------------------------------------------


def test_maildir_is_readable_by_pythons_mailbox_module(sinkhole, tmp_path):
    box = tmp_path / "Maildir"
    server = sinkhole("--mode", "accept", "--maildir", str(box))
    send(server.port)
    send(server.port, b"Subject: second\r\n\r\nx\r\n", recipients=("d@example.com",))
    maildir = mailbox.Maildir(box, create=False)
    messages = sorted(maildir, key=lambda m: m["Subject"])
    assert [m["Subject"] for m in messages] == ["on disk", "second"]
    first = messages[0]
    assert first["Return-Path"] == "<a@example.com>"
    assert first.get_all("X-Sinkhole-Rcpt-To") == ["<b@example.com>", "<c@example.com>"]
    assert first["X-Sinkhole-Helo"] == CLIENT_NAME and first["X-Sinkhole-Client"] == "127.0.0.1"
    assert QUEUE_ID.match(b"2.0.0 OK queued as " + first["X-Sinkhole-Queue-ID"].encode())
    # smtplib stuffed the dot on the wire; sinkhole took it off again. LF line ends.
    assert first.get_payload() == "first line\n..a dotted line\nlast\n"
    assert list((box / "tmp").iterdir()) == [], "nothing left in tmp/"
    names = [p.name for p in (box / "new").iterdir()]
    assert len(set(names)) == 2 and all(re.fullmatch(r"\d+\.M\d+P\d+Q\d+\..+", n) for n in names), names


def test_a_message_answered_250_survives_sigkill(sinkhole, tmp_path):
    box = tmp_path / "Maildir"
    server = sinkhole("--mode", "accept", "--maildir", str(box))
    client = server.raw()
    assert client.reply()[0] == 220
    body = b"Subject: crash\r\n\r\n" + b"x" * 200_000 + b"\r\n"
    client.send(b"HELO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    assert [client.reply1()[0] for _ in range(4)] == [250, 250, 250, 354]
    client.send(body + b".\r\n")
    code, text = client.reply1()
    os.kill(server.pid, signal.SIGKILL)  # the moment the 250 is read
    server.stopped_on_purpose = True
    server.proc.wait(timeout=10)
    assert code == 250, text
    [path] = (box / "new").iterdir()
    assert path.read_bytes().endswith(b"Subject: crash\n\n" + b"x" * 200_000 + b"\n")


def test_refused_and_cut_off_messages_are_not_written_but_a_rules_deliver_is(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: refuse
            command: .
            condition: {field: "header:Subject", operator: equals, matchingValue: refuse me}
            response: {code: 550, enhancedCode: 5.7.1, message: Refused}
          - id: refuse-but-keep
            command: .
            condition: {field: "header:Subject", operator: equals, matchingValue: keep me}
            response: {code: 451, enhancedCode: 4.3.0, message: Later, deliver: true}
        """))
    box = tmp_path / "Maildir"
    server = sinkhole("--mode", "accept", "--maildir", str(box), "--rules", str(rules), "--idle-timeout", "1s")
    with pytest.raises(smtplib.SMTPDataError):
        send(server.port, b"Subject: refuse me\r\n\r\nx\r\n")
    with pytest.raises(smtplib.SMTPDataError):
        send(server.port, b"Subject: keep me\r\n\r\nx\r\n")
    # A message the client never finishes.
    client = server.raw()
    client.reply()
    client.send(b"HELO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    assert [client.reply1()[0] for _ in range(4)] == [250, 250, 250, 354]
    client.send(b"Subject: half\r\n\r\n" + b"y" * 100_000)
    assert client.reply1() == (421, b"4.4.2 Idle timeout")
    server.wait_for_log(lambda e: e.get("event") == "connection" and e.get("outcome") == "idle_timeout")
    subjects = [m["Subject"] for m in mailbox.Maildir(box, create=False)]
    assert subjects == ["keep me"]
    deadline = time.monotonic() + 5
    while list((box / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the half message's file is removed off the event loop
    assert list((box / "tmp").iterdir()) == []


def test_a_bdat_message_is_written_as_sent(sinkhole, tmp_path):
    box = tmp_path / "Maildir"
    server = sinkhole("--mode", "accept", "--maildir", str(box))
    client = server.raw()
    client.reply()
    chunk = b"Subject: chunked\r\n\r\nbinary \x00\x01 and a .\r\n.\r\n"
    client.send(b"EHLO c\r\n")
    client.reply()
    client.send(b"MAIL FROM:<a@example.com> BODY=BINARYMIME\r\nRCPT TO:<b@example.com>\r\nBDAT %d LAST\r\n" % len(chunk) + chunk)
    assert [client.reply1()[0] for _ in range(3)] == [250, 250, 250]
    [path] = (box / "new").iterdir()
    assert path.read_bytes().endswith(b"Subject: chunked\n\nbinary \x00\x01 and a .\n.\n")


def test_a_directory_that_cannot_be_written_gives_451_and_the_server_goes_on(sinkhole, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where a directory should be\n")
    server = sinkhole("--mode", "accept", "--dump-each", f"{blocker}/%Y/x.")
    for _ in range(2):
        client = server.smtp()
        client.ehlo(CLIENT_NAME)
        client.mail("a@example.com")
        client.rcpt("b@example.com")
        assert client.data(b"Subject: x\r\n\r\nx\r\n") == (451, b"4.3.0 Queue file write error")
        assert client.noop() == (250, b"2.0.0 OK")
        client.quit()
    line = server.wait_for_log(lambda e: e.get("event") == "disk_write_failed")
    assert "mkdir" in line["error"] and "Not a directory" in line["error"], line
    assert server.metrics()["sinkhole_disk_write_failures_total"] == 2


def test_an_unmakeable_maildir_stops_sinkhole_at_start(tmp_path):
    from conftest import run_sinkhole
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_sinkhole("--listen", "127.0.0.1:0", "--maildir", str(blocker / "box"))
    assert result.returncode == 2
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    assert "cannot prepare maildir" in stderr and "Not a directory" in stderr, stderr


# -- smtp-sink's dump files -----------------------------------------------


def start_smtp_sink(args: list[str]) -> tuple[subprocess.Popen, int]:
    """smtp-sink on a free port (it takes no port 0): bind, close, hand it the port."""
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not os.path.exists(binary):
        pytest.skip("smtp-sink is not installed (make test installs postfix)")
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([binary, *user, *args, f"127.0.0.1:{port}", "10"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"smtp-sink did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)


def split_dump(data: bytes) -> tuple[list[bytes], bytes]:
    """A dump: its generated header lines (the Received header's three lines as one) and the rest."""
    lines = data.split(b"\n")
    head = []
    index = 0
    while not lines[index].startswith(b"Received: "):
        head.append(lines[index])
        index += 1
    head.append(b"\n".join(lines[index:index + 3]))
    return head, b"\n".join(lines[index + 3:])


def normalise_received(line: bytes) -> bytes:
    # What legitimately differs: the program's name, the random id and the time.
    line = line.replace(b"(smtp-sink)", b"(PROGRAM)").replace(b"(sinkhole)", b"(PROGRAM)")
    line = re.sub(rb" id [0-9a-f]{8};", b" id ID;", line)
    return re.sub(rb"\n\t[A-Z][a-z]{2}, [ \d]\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)$", b"\n\tDATE", line)


@pytest.fixture
def shared_dir():
    """A directory smtp-sink, running as nobody, can write in (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="sinkhole-dump-", dir="/tmp"))
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_dump_each_matches_smtp_sinks_own_dump_field_by_field(sinkhole, tmp_path, shared_dir):
    ours, theirs = tmp_path / "sinkhole", shared_dir
    template = "%Y%m%d/msg."
    proc, port = start_smtp_sink(["-h", "sink.test", "-d", f"{theirs}/{template}", "-S", r"BEGIN\n\101\t|\n"])
    try:
        server = sinkhole("--mode", "accept", "--hostname", "sink.test", "--dump-each", f"{ours}/{template}",
                          "--dump-prefix", r"BEGIN\n\101\t|\n")
        # The same bytes to both (smtplib would add SIZE= for sinkhole, which offers SIZE, and not for smtp-sink).
        for target in (port, server.port):
            session = [b"EHLO client.test", b"MAIL FROM:<a@example.com> BODY=8BITMIME",
                       b"RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE", b"RCPT TO:<c@example.com> ORCPT=rfc822;c@example.com",
                       b"DATA", MESSAGE.replace(b"\r\n..a", b"\r\n...a") + b".", b"QUIT"]
            client = RawClient("127.0.0.1", target, timeout=15)
            assert client.reply()[0] == 220
            for line in session:
                client.send(line + b"\r\n")
                code, _ = client.reply()
                assert code in (221, 250, 354), (target, line, code)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    [their_file] = files(theirs)
    [our_file] = files(ours)
    if os.environ.get("SINKHOLE_SHOW_DUMPS"):
        print(f"--- smtp-sink {their_file.name}\n{their_file.read_text()}--- sinkhole {our_file.name}\n{our_file.read_text()}")
    # Named alike: the expanded template, then 8 hexadecimal digits.
    assert their_file.parent.name == our_file.parent.name == time.strftime("%Y%m%d")
    assert re.fullmatch(r"msg\.[0-9a-f]{8}", their_file.name) and re.fullmatch(r"msg\.[0-9a-f]{8}", our_file.name)
    their_head, their_body = split_dump(their_file.read_bytes())
    our_head, our_body = split_dump(our_file.read_bytes())
    assert our_head[:-1] == their_head[:-1], "prefix, X-Client-Addr, X-Client-Proto, X-Helo-Args, X-Mail-Args, X-Rcpt-Args"
    assert our_head[0] == b"BEGIN" and our_head[1] == b"A\t|"
    assert normalise_received(our_head[-1]) == normalise_received(their_head[-1])
    assert our_body == their_body, "the message and the empty line after it"
    # Each file's Received id is its name's random part.
    assert our_file.name.split(".")[1].encode() in our_head[-1]


def test_dump_append_puts_whole_messages_one_after_another(sinkhole, tmp_path):
    target = tmp_path / "dumps" / "all.txt"
    server = sinkhole("--mode", "accept", "--dump-append", str(target))
    send(server.port, b"Subject: one\r\n\r\n1\r\n", recipients=("x@example.com",))
    send(server.port, b"Subject: two\r\n\r\n2\r\n", recipients=("y@example.com",))
    data = target.read_bytes()
    assert data.count(b"X-Client-Addr: 127.0.0.1\n") == 2
    first, second = data.split(b"X-Client-Addr: ")[1:]
    assert b"X-Rcpt-Args: <x@example.com> NOTIFY=SUCCESS,FAILURE\n" in first and first.endswith(b"Subject: one\n\n1\n\n")
    assert b"X-Rcpt-Args: <y@example.com>" in second and second.endswith(b"Subject: two\n\n2\n\n")
    assert [p.name for p in target.parent.iterdir()] == ["all.txt"], "no temporary file left"


def test_a_write_that_fails_part_way_gives_451_and_leaves_nothing(sinkhole, tmp_path, monkeypatch):
    """As a full disk would: the file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes write(2) fail with EFBIG."""
    import conftest
    real = conftest.binary_path()
    wrapper = tmp_path / "limited-sinkhole"
    wrapper.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        exec python3 -c 'import os, resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        os.execv(sys.argv[1], sys.argv[1:])' {real} "$@"
        """))
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "binary_path", lambda: wrapper)
    box = tmp_path / "Maildir"
    server = sinkhole("--mode", "accept", "--maildir", str(box))
    client = server.smtp()
    client.ehlo(CLIENT_NAME)
    client.mail("a@example.com")
    client.rcpt("b@example.com")
    assert client.data(b"Subject: big\r\n\r\n" + b"z" * 200_000 + b"\r\n") == (451, b"4.3.0 Queue file write error")
    # The session and the server go on; a small message still fits.
    client.mail("a@example.com")
    client.rcpt("b@example.com")
    assert client.data(b"Subject: small\r\n\r\nx\r\n")[0] == 250
    client.quit()
    line = server.wait_for_log(lambda e: e.get("event") == "disk_write_failed")
    assert "write" in line["error"] and "File too large" in line["error"], line
    assert [m["Subject"] for m in mailbox.Maildir(box, create=False)] == ["small"]
    deadline = time.monotonic() + 5
    while list((box / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((box / "tmp").iterdir()) == [], "the failed message's temporary file is removed"
