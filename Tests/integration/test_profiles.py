"""Listener profiles (greeting delay, drops, command delay, a mode and rules
per listener), BadSMTP's port bands, and greylisting as Postgrey, SQLgrey and
milter-greylist do it, with their exact replies."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time

import pytest

from conftest import HOSTNAME, RawClient

GREETING = (220, [f"{HOSTNAME} ESMTP sinkhole".encode()])
RCPT_OK = (250, b"2.1.5 OK")


def ports(server) -> list[int]:
    """The bound port of each listener, in the order given."""
    # Every `listening` line comes before `http_listening`, which the fixture awaited.
    return [int(line["address"].rpartition(":")[2]) for line in server.logs(lambda e: e.get("event") == "listening")]


def connect(port: int, timeout: float = 15.0) -> RawClient:
    return RawClient("127.0.0.1", port, timeout)


def test_greeting_delay_and_command_delay(sinkhole):
    server = sinkhole("--mode", "accept", "--listen", "127.0.0.1:0,greeting-delay=1s",
                      "--listen", "127.0.0.1:0,command-delay=500ms,name=slowpoke")
    plain, greeting_delayed, command_delayed = ports(server)
    started = time.monotonic()
    client = connect(greeting_delayed)
    assert client.reply() == GREETING
    assert time.monotonic() - started >= 0.9
    client.close()

    client = connect(command_delayed)
    started = time.monotonic()
    assert client.reply() == GREETING
    assert time.monotonic() - started < 0.4, "the command delay is not a greeting delay"
    started = time.monotonic()
    assert client.command(b"NOOP") == (250, b"2.0.0 OK")
    assert time.monotonic() - started >= 0.45
    client.command(b"QUIT")

    client = connect(plain)
    started = time.monotonic()
    assert client.reply() == GREETING
    assert client.command(b"NOOP") == (250, b"2.0.0 OK")
    assert time.monotonic() - started < 0.4
    client.command(b"QUIT")


def test_drop_at_connect_and_drop_after_send_no_greeting_then_a_fin(sinkhole):
    server = sinkhole("--mode", "accept", "--listen", "127.0.0.1:0,drop-at-connect", "--listen", "127.0.0.1:0,drop-after=1s")
    _, at_once, after = ports(server)
    client = connect(at_once)
    assert client.sock.recv(100) == b"", "no byte, then the close"
    started = time.monotonic()
    client = connect(after)
    client.send(b"EHLO early.example\r\n")
    assert client.sock.recv(100) == b"", "nothing is answered, then the close"
    assert 0.9 <= time.monotonic() - started < 10
    outcomes = [e["outcome"] for e in server.wait_for_logs(lambda e: e["event"] == "connection", 2)]
    assert outcomes == ["disconnected", "disconnected"]


def test_a_listener_with_its_own_mode_and_rules(sinkhole, tmp_path):
    rules = tmp_path / "listener-rules.yaml"
    rules.write_text("- {command: MAIL, response: {code: 421, enhancedCode: 4.7.0, message: Not on this port}}\n")
    server = sinkhole("--mode", "accept", "--listen", "127.0.0.1:0,mode=bounce",
                      "--listen", f"127.0.0.1:0,rules={rules}")
    plain, bouncing, ruled = ports(server)
    for port, expected in [(plain, RCPT_OK), (bouncing, (550, b"5.1.1 User unknown"))]:
        client = connect(port)
        client.reply()
        client.send(b"EHLO c.test\r\n")
        client.reply()
        client.command(b"MAIL FROM:<a@example.com>")
        assert client.command(b"RCPT TO:<b@example.com>") == expected, port
        client.command(b"QUIT")
    client = connect(ruled)
    client.reply()
    client.send(b"EHLO c.test\r\n")
    client.reply()
    assert client.command(b"MAIL FROM:<a@example.com>") == (421, b"4.7.0 Not on this port")
    assert client.at_eof()


def test_listeners_section_of_the_config_file(sinkhole, tmp_path):
    config = tmp_path / "sinkhole.yaml"
    config.write_text("""mode: accept
listeners:
  - listen: 127.0.0.1:0
    mode: defer
    name: deferring
  - listen: 127.0.0.1:0
    rules:
      - {command: RCPT, response: {code: 452, message: Inline rule}}
""")
    server = sinkhole("--config", str(config))
    _, deferring, inline = ports(server)
    for port, expected in [(deferring, (421, b"4.3.2 Service temporarily unavailable")), (inline, (452, b"Inline rule"))]:
        client = connect(port)
        client.reply()
        client.send(b"EHLO c.test\r\n")
        client.reply()
        client.command(b"MAIL FROM:<a@example.com>")
        assert client.command(b"RCPT TO:<b@example.com>") == expected
        client.close()


def test_badsmtp_port_bands(sinkhole, tmp_path):
    taken = []
    for port in [25200, 25201, 25600, 25601, 25465, 25587]:
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            taken.append(port)
        finally:
            probe.close()
    if taken:
        pytest.skip(f"BadSMTP's fixed ports {taken} are in use on this machine")
    ca = tmp_path / "ca.pem"
    server = sinkhole("--mode", "accept", "--badsmtp-ports", "--tls-write-ca", str(ca))
    assert len(ports(server)) == 23
    # The bands speak BadSMTP's words; the main listener stays sinkhole's (--personality).
    badsmtp_greeting = (220, [f"{HOSTNAME} ESMTP BadSMTP - The Reliably Unreliable Mail Server https://badsmtp.com".encode()])
    client = connect(25200)
    assert client.reply() == badsmtp_greeting
    assert client.command(b"NOOP") == (250, b"OK")
    client.close()
    client = connect(server.port)
    assert client.reply() == GREETING
    client.close()
    started = time.monotonic()
    client = connect(25201)
    assert client.reply() == badsmtp_greeting
    assert time.monotonic() - started >= 0.9
    client.close()
    assert connect(25600).sock.recv(100) == b""
    started = time.monotonic()
    assert connect(25601).sock.recv(100) == b""
    assert time.monotonic() - started >= 0.9
    # BadSMTP's TLS ports: 25465 implicit TLS, 25587 plain with STARTTLS, in BadSMTP's words.
    context = ssl.create_default_context(cafile=str(ca))
    implicit = smtplib.SMTP_SSL("127.0.0.1", 25465, local_hostname="client.test", timeout=15, context=context)
    assert implicit.ehlo() == (250, b"badsmtp.test\n8BITMIME\nSIZE 26214400\nPIPELINING\nCHUNKING\nSMTPUTF8\nENHANCEDSTATUSCODES\nOK")
    assert implicit.docmd("STARTTLS") == (554, b"TLS already started")
    implicit.quit()
    plain = smtplib.SMTP("127.0.0.1", 25587, local_hostname="client.test", timeout=15)
    assert plain.ehlo() == (250, b"badsmtp.test\n8BITMIME\nSIZE 26214400\nPIPELINING\nSTARTTLS\nCHUNKING\nSMTPUTF8\nENHANCEDSTATUSCODES\nOK")
    assert plain.starttls(context=context) == (220, b"Ready to start TLS")
    plain.quit()


# -- greylisting ------------------------------------------------------------------

def greylist_rcpt(server, recipient: str = "kas@threefound.com", sender: str = "sender@example.com"):
    client = server.smtp()
    client.ehlo()
    client.mail(sender)
    reply = client.rcpt(recipient)
    return client, reply


@pytest.mark.parametrize("preset, first", [
    ("postgrey", (450, b"4.2.0 <kas@threefound.com>: Recipient address rejected: Greylisted, see "
                      b"http://postgrey.schweikert.ch/help/threefound.com.html")),
    ("sqlgrey", (450, b"4.7.1 <kas@threefound.com>: Recipient address rejected: Greylisted for 5 minutes")),
    ("milter-greylist", (451, b"4.7.1 Greylisting in action, please come back in 00:00:01")),
])
def test_greylist_presets_with_their_exact_replies(sinkhole, preset, first):
    server = sinkhole("--mode", "greylist", "--greylist-preset", preset, "--greylist-delay", "1s")
    client, reply = greylist_rcpt(server)
    assert reply == first
    # Answered at RCPT with the session kept (Postgrey's way): another recipient, another triplet.
    assert client.rcpt("other@threefound.com")[0] == first[0]
    assert client.noop() == (250, b"2.0.0 OK")
    client.quit()
    line = server.wait_for_log(lambda e: e["event"] == "connection")
    assert (line["greylist"], line["decided_by"], line["outcome"]) == ("new", "greylist", "quit")


def test_greylist_delay_too_soon_then_passed(sinkhole):
    server = sinkhole("--mode", "greylist", "--greylist-key", "triplet", "--greylist-answer", "rcpt",
                      "--greylist-delay", "1s", "--greylist-reply", "451 4.7.1 Greylisted, wait %ss")
    client, reply = greylist_rcpt(server, "a@example.com")
    assert reply == (451, b"4.7.1 Greylisted, wait 1s")
    assert client.rcpt("a@example.com")[0] == 451, "too soon"
    client.quit()
    deadline = time.monotonic() + 10
    while True:
        client, reply = greylist_rcpt(server, "a@example.com")
        client.quit()
        if reply == RCPT_OK:
            break
        assert time.monotonic() < deadline, f"never passed: {reply}"
        time.sleep(0.2)
    server.wait_for_log(lambda e: e["event"] == "connection" and e.get("greylist") == "passed")
    first = server.wait_for_log(lambda e: e["event"] == "connection")
    assert first["greylist"] == "too_soon", "the first session's last attempt came too soon"
    metrics = server.metrics()
    assert metrics['sinkhole_greylist_verdicts_total{verdict="new"}'] == 1
    assert metrics['sinkhole_greylist_verdicts_total{verdict="too_soon"}'] >= 1
    assert metrics['sinkhole_greylist_verdicts_total{verdict="passed"}'] == 1


def test_greylist_net_key_lets_the_same_network_pass(sinkhole):
    server = sinkhole("--mode", "greylist", "--greylist-key", "net")
    client, reply = greylist_rcpt(server)
    assert reply == (421, b"4.3.2 Greylisted, try again later")
    # 127.0.0.2 is in 127.0.0.1's /24: the retry from there passes.
    other = server.raw(source_ip="127.0.0.2")
    other.reply()
    other.send(b"EHLO c.test\r\n")
    other.reply()
    other.command(b"MAIL FROM:<sender@example.com>")
    assert other.command(b"RCPT TO:<kas@threefound.com>") == RCPT_OK
    other.command(b"QUIT")


def test_greylist_auto_whitelist(sinkhole):
    server = sinkhole("--mode", "greylist", "--greylist-key", "triplet", "--greylist-answer", "rcpt",
                      "--greylist-auto-whitelist", "1", "--greylist-reply", "450 4.7.1 Greylisted")
    client, reply = greylist_rcpt(server, "a@example.com")
    assert reply == (450, b"4.7.1 Greylisted")
    assert client.rcpt("a@example.com") == RCPT_OK, "a retry passes (no delay)"
    assert client.rcpt("never-seen@example.com") == RCPT_OK, "one pass whitelists the client"
    client.quit()
    line = server.wait_for_log(lambda e: e["event"] == "connection")
    assert line["greylist"] == "whitelisted"


def test_a_greeting_delay_longer_than_the_idle_timeout_still_greets(sinkhole):
    """sinkhole, not the client, is the one waiting: the idle timeout does not run."""
    server = sinkhole("--mode", "accept", "--idle-timeout", "500ms", "--listen", "127.0.0.1:0,greeting-delay=1500ms")
    _, delayed = ports(server)
    started = time.monotonic()
    client = connect(delayed)
    assert client.reply() == GREETING
    assert time.monotonic() - started >= 1.4
    assert client.command(b"NOOP") == (250, b"2.0.0 OK")
    client.command(b"QUIT")
