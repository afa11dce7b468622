"""LMTP (RFC 2033) on a listener (`--listen HOST:PORT,lmtp`, `--lmtp` as smtp-sink's
-L), UNIX-domain listeners (`--listen unix:/path`, `--socket-mode`), and
IPv4-only / IPv6-only listening (smtp-sink's -4 and -6).

Real clients: Python's smtplib.LMTP over TCP and a UNIX socket (smtplib reads
one reply after DATA, so it sends one recipient a message here; the
per-recipient replies go through a raw socket), Postfix's smtp-source -L for
load, and a private Postfix delivering through `lmtp:unix:`.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import stat
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import requests

from conftest import CLIENT_NAME, HOSTNAME, RawClient, run_sinkhole

LMTP_GREETING = (220, [f"{HOSTNAME} LMTP sinkhole".encode()])
MAIL_OK = (250, b"2.1.0 OK")
RCPT_OK = (250, b"2.1.5 OK")


def second_port(server) -> int:
    lines = server.wait_for_logs(lambda e: e.get("event") == "listening", 2)
    return int(lines[1]["address"].rpartition(":")[2])


def lhlo(client: RawClient) -> list[bytes]:
    assert client.reply() == LMTP_GREETING
    client.send(b"LHLO client.test\r\n")
    code, lines = client.reply()
    assert code == 250, lines
    return lines


def test_lhlo_and_one_reply_per_recipient_each_decided_by_the_engine(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: bounce-bob
            command: .
            condition: {field: recipient, operator: equals, matchingValue: bob@example.com}
            response: {code: 550, enhancedCode: 5.1.1, message: No such mailbox}
          - id: defer-carol
            command: .
            condition: {field: recipient, operator: equals, matchingValue: carol@example.com}
            response: {code: 452, enhancedCode: 4.2.2, message: Mailbox full}
        """))
    server = sinkhole("--mode", "accept", "--capture", "memory", "--rules", str(rules),
                      "--listen", "127.0.0.1:0,lmtp")
    client = RawClient("127.0.0.1", second_port(server))
    keywords = lhlo(client)
    assert keywords[0] == HOSTNAME.encode() and b"PIPELINING" in keywords and b"CHUNKING" in keywords
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n"
                b"RCPT TO:<carol@example.com>\r\nDATA\r\n")
    assert [client.reply1() for _ in range(5)] == [MAIL_OK, RCPT_OK, RCPT_OK, RCPT_OK,
                                                   (354, b"End data with <CR><LF>.<CR><LF>")]
    client.send(b"Subject: lmtp\r\n\r\nx\r\n.\r\n")
    first = client.reply1()
    assert first[0] == 250 and first[1].startswith(b"2.0.0 <alice@example.com> OK queued as "), first
    assert client.reply1() == (550, b"5.1.1 No such mailbox")
    assert client.reply1() == (452, b"4.2.2 Mailbox full")
    assert client.command(b"QUIT") == (221, b"2.0.0 Bye")
    mails = requests.get(f"http://127.0.0.1:{server.http_port}/smtpMails", timeout=10).json()
    assert [[r["address"] for r in m["recipients"]] for m in mails] == [["alice@example.com"]]


def test_lmtp_bdat_gets_one_reply_per_recipient_too(sinkhole):
    server = sinkhole("--mode", "accept", "--listen", "127.0.0.1:0,lmtp")
    client = RawClient("127.0.0.1", second_port(server))
    lhlo(client)
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<x@example.com>\r\nRCPT TO:<y@example.com>\r\nBDAT 3 LAST\r\nabc")
    replies = [client.reply1() for _ in range(4)]
    assert replies[:2] == [MAIL_OK, RCPT_OK] and replies[2] == RCPT_OK
    assert replies[3][1].startswith(b"2.0.0 <x@example.com> OK queued as ")
    assert client.reply1()[1].startswith(b"2.0.0 <y@example.com> OK queued as ")


def test_ehlo_on_lmtp_and_lhlo_on_smtp_get_500_5_5_1_and_no_recipients_gets_503(sinkhole):
    server = sinkhole("--mode", "accept", "--listen", "127.0.0.1:0,lmtp")
    client = RawClient("127.0.0.1", second_port(server))
    assert client.reply() == LMTP_GREETING
    assert client.command(b"EHLO client.test") == (500, b"5.5.1 This is LMTP: say LHLO")
    assert client.command(b"HELO client.test") == (500, b"5.5.1 This is LMTP: say LHLO")
    client.send(b"LHLO client.test\r\n")
    assert client.reply()[0] == 250
    assert client.command(b"MAIL FROM:<a@example.com>") == MAIL_OK
    assert client.command(b"DATA") == (503, b"5.5.1 Need RCPT command")
    smtp = server.raw()
    assert smtp.reply()[0] == 220
    assert smtp.command(b"LHLO client.test") == (500, b"5.5.1 This is SMTP: say EHLO")


def test_smtplib_lmtp_over_tcp_and_a_unix_socket(sinkhole, tmp_path):
    path = tmp_path / "lmtp.sock"
    server = sinkhole("--mode", "accept", "--capture", "memory", "--listen", "127.0.0.1:0,lmtp",
                      "--listen", f"unix:{path},lmtp", "--socket-mode", "0660")
    port = second_port(server)
    lines = server.wait_for_logs(lambda e: e.get("event") == "listening", 3)
    assert lines[2]["address"] == f"unix:{path}"
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o660
    for client in (smtplib.LMTP("127.0.0.1", port, local_hostname=CLIENT_NAME),
                   smtplib.LMTP(str(path), local_hostname=CLIENT_NAME)):
        assert client.sendmail("a@example.com", ["b@example.com"], b"Subject: lmtp\r\n\r\nx\r\n") == {}
        client.quit()
    mails = requests.get(f"http://127.0.0.1:{server.http_port}/smtpMails", timeout=10).json()
    assert len(mails) == 2
    server.terminate()
    assert server.wait(timeout=15) == 0
    assert not path.exists(), "the socket file goes when sinkhole stops"


def test_a_stale_socket_is_replaced_a_live_one_refused_and_a_plain_file_kept(sinkhole, tmp_path):
    path = tmp_path / "s.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # bound, never listening: what a crash leaves behind
    server = sinkhole("--mode", "accept", "--listen", f"unix:{path}")
    client = smtplib.SMTP()
    client.sock = socket.socket(socket.AF_UNIX)
    client.sock.connect(str(path))
    client.file = None
    assert client.getreply()[0] == 220
    client.close()
    live = run_sinkhole("--listen", f"unix:{path}", "--http-listen", "none")
    assert live.returncode == 1
    assert f"another server is listening on {path}" in str(live.stderr)
    server.assert_alive()
    plain = tmp_path / "plain"
    plain.write_text("not a socket\n")
    refused = run_sinkhole("--listen", f"unix:{plain}", "--http-listen", "none")
    assert refused.returncode == 1 and f"{plain} exists and is not a socket" in str(refused.stderr)
    assert plain.read_text() == "not a socket\n"


def test_smtp_source_lmtp_load(sinkhole):
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    if not os.path.exists(source):
        pytest.skip("smtp-source is not installed (make test installs postfix)")
    server = sinkhole("--mode", "accept", "--listen", "127.0.0.1:0,lmtp")
    port = second_port(server)
    result = subprocess.run([source, "-L", "-s", "5", "-m", "500", "-r", "2", "-t", "rcpt@example.com",
                             f"127.0.0.1:{port}"], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = server.wait_for_logs(lambda e: e.get("event") == "connection" and e.get("messages"), 1)
    deadline = time.monotonic() + 10
    while sum(e["messages"] for e in server.logs(lambda e: e.get("event") == "connection")) < 500:
        assert time.monotonic() < deadline, "not every session has logged"
        time.sleep(0.05)
    assert sum(e["messages"] for e in server.logs(lambda e: e.get("event") == "connection")) == 500
    assert lines


def test_postfix_delivers_through_lmtp_unix(sinkhole):
    from postfix_harness import PostfixInstance, find_postfix, make_message, new_instance_root
    directory = Path(tempfile.mkdtemp(prefix="sinkhole-lmtp-", dir="/tmp"))
    os.chmod(directory, 0o755)  # Postfix's lmtp client runs as postfix
    path = directory / "lmtp.sock"
    server = sinkhole("--mode", "accept", "--capture", "memory", "--listen", f"unix:{path},lmtp")
    root = new_instance_root()
    mta = PostfixInstance(find_postfix(), root, 0, transport=f"lmtp:unix:{path}")
    try:
        mta.start()
        message_id, message = make_message("through lmtp")
        mta.sendmail(message)
        queue_id = mta.queue_id_of(message_id)
        line = mta.wait_for_maillog(rf"lmtp\[\d+\]: {queue_id}: to=<[^>]+>, relay=[^\[]*\[{path}\], .*status=sent \((.*)\)$", timeout=20)
        assert "OK queued as" in line.group(1), line.group(0)
        mta.wait_for_empty_queue()
        mails = requests.get(f"http://127.0.0.1:{server.http_port}/smtpMails", timeout=10).json()
        assert len(mails) == 1 and "through lmtp" in mails[0]["message"]
        assert mta.problems() == []
    finally:
        mta.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(directory, ignore_errors=True)


def test_lmtp_flag_makes_every_listener_lmtp(sinkhole):
    server = sinkhole("--mode", "accept", "--lmtp")
    client = server.raw()
    assert client.reply() == LMTP_GREETING


# -- IPv4 only, IPv6 only -------------------------------------------------


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv4_only_refuses_an_ipv6_listen_address():
    result = run_sinkhole("--ipv4-only", "--listen", "[::1]:0")
    assert result.returncode == 2
    assert "listen [::1]:0 is not IPv4, and ipv4-only is given" in str(result.stderr)
    result = run_sinkhole("--ipv6-only", "--listen", "127.0.0.1:0")
    assert result.returncode == 2 and "listen 127.0.0.1:0 is not IPv6, and ipv6-only is given" in str(result.stderr)


def test_ipv6_only_takes_no_ipv4_clients_on_the_wildcard():
    if not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    from conftest import SinkholeServer
    server = SinkholeServer(["--listen", "[::]:0", "--ipv6-only", "--log-format", "json", "--http-listen", "none",
                             "--mode", "accept", "--hostname", HOSTNAME])
    try:
        port = server.port
        with socket.create_connection(("::1", port), timeout=10) as six:
            assert six.recv(100).startswith(b"220 ")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10)
    finally:
        server.stop()


def test_swaks_speaks_lmtp_over_the_unix_socket_and_reads_each_recipients_reply(sinkhole, tmp_path):
    if not shutil.which("swaks"):
        pytest.skip("swaks not installed (make deps)")
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {id: no-bob, command: ., condition: {field: recipient, operator: equals, "
                     "matchingValue: bob@example.com}, response: {code: 550, enhancedCode: 5.1.1, message: No bob}}\n")
    path = tmp_path / "lmtp.sock"
    sinkhole("--mode", "accept", "--rules", str(rules), "--listen", f"unix:{path},lmtp")
    result = subprocess.run(["swaks", "--socket", str(path), "--protocol", "LMTP", "--to", "alice@example.com,bob@example.com",
                             "--from", "a@example.com", "--timeout", "20"], capture_output=True, text=True, timeout=60)
    assert " -> LHLO " in result.stdout, result.stdout
    assert "<-  250 2.0.0 <alice@example.com> OK queued as " in result.stdout, result.stdout
    assert "<** 550 5.1.1 No bob" in result.stdout, result.stdout


def test_a_reply_and_close_for_one_recipient_is_its_last_reply_and_closes(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {id: cut, command: ., condition: {field: recipient, operator: equals, "
                     "matchingValue: bob@example.com}, response: {action: reply_and_close, code: 554, "
                     "enhancedCode: 5.3.0, message: Gone}}\n")
    server = sinkhole("--mode", "accept", "--rules", str(rules), "--listen", "127.0.0.1:0,lmtp")
    client = RawClient("127.0.0.1", second_port(server))
    lhlo(client)
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n"
                b"RCPT TO:<carol@example.com>\r\nDATA\r\n")
    assert [client.reply1()[0] for _ in range(5)] == [250, 250, 250, 250, 354]
    client.send(b"Subject: x\r\n\r\nx\r\n.\r\n")
    assert client.reply1()[1].startswith(b"2.0.0 <alice@example.com> OK queued as ")
    assert client.reply1() == (554, b"5.3.0 Gone")
    assert client.at_eof(), "no reply for carol, and the connection is closed"
    line = server.wait_for_log(lambda e: e.get("event") == "connection")
    assert line["outcome"] == "refused"
