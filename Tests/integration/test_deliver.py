"""A rule's `deliver`: captured mail keeps what the client was refused, or
drops what it was told was accepted (the James article's "return an error
but still deliver")."""

from __future__ import annotations

import textwrap

import requests

from conftest import assert_one_line_error, run_sinkhole

RULES = """\
    rules:
      - id: refuse-but-keep
        command: RCPT
        condition: {operator: contains, matchingValue: keep@}
        response: {code: 550, enhancedCode: 5.1.1, message: No such user, deliver: true}
      - id: accept-but-drop
        command: RCPT
        condition: {operator: contains, matchingValue: drop@}
        response: {action: accept, deliver: false}
      - id: defer-but-keep
        command: .
        condition: {operator: contains, matchingValue: "Subject: keep anyway"}
        response: {code: 451, enhancedCode: 4.3.0, message: Try again, deliver: true}
      - id: accept-but-lose
        command: .
        condition: {operator: contains, matchingValue: "Subject: lose it"}
        response: {action: accept, deliver: false}
    """


def mails(server) -> list[dict]:
    return requests.get(f"http://127.0.0.1:{server.http_port}/smtpMails", timeout=10).json()


def send(client, recipients: list[bytes], subject: bytes) -> tuple[list[tuple[int, bytes]], tuple[int, bytes]]:
    assert client.command(b"MAIL FROM:<a@example.com>")[0] == 250
    replies = [client.command(b"RCPT TO:<" + r + b">") for r in recipients]
    assert client.command(b"DATA")[0] == 354
    client.send(b"Subject: " + subject + b"\r\n\r\nx\r\n.\r\n")
    return replies, client.reply1()


def test_deliver_keeps_refused_and_drops_accepted_recipients_and_messages(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(RULES))
    server = sinkhole("--mode", "accept", "--capture", "memory", "--rules", str(rules))
    client = server.raw()
    assert client.reply()[0] == 220
    assert client.command(b"HELO client.test")[0] == 250

    replies, end = send(client, [b"ok@example.com", b"keep@example.com", b"drop@example.com"], b"plain")
    assert replies == [(250, b"2.1.5 OK"), (550, b"5.1.1 No such user"), (250, b"2.1.5 OK")]
    assert end[0] == 250
    [mail] = mails(server)
    assert [r["address"] for r in mail["recipients"]] == ["ok@example.com", "keep@example.com"]

    _, end = send(client, [b"ok@example.com"], b"keep anyway")
    assert end == (451, b"4.3.0 Try again")
    _, end = send(client, [b"ok@example.com"], b"lose it")
    assert end[0] == 250
    subjects = [m["message"].split("\r\n")[0] for m in mails(server)]
    assert subjects == ["Subject: plain", "Subject: keep anyway"]


def test_deliver_is_checked_when_rules_load(tmp_path):
    for response, fragment in [
        ("{code: 451, deliver: yes please}", "deliver: expected true or false"),
        ("{delay: 2s, deliver: true}", "deliver: needs a reply"),
    ]:
        rules = tmp_path / "bad.yaml"
        rules.write_text(f"rules:\n  - {{id: bad, command: RCPT, response: {response}}}\n")
        result = run_sinkhole("--rules", str(rules), "--listen", "127.0.0.1:0")
        assert result.returncode == 2
        assert_one_line_error(result, "rule bad", fragment)
    rules = tmp_path / "mail.yaml"
    rules.write_text("rules:\n  - {id: on-mail, command: MAIL, response: {code: 451, deliver: true}}\n")
    result = run_sinkhole("--rules", str(rules), "--listen", "127.0.0.1:0")
    assert_one_line_error(result, "rule on-mail", "deliver: applies to RCPT and . (the end of data) only")


def test_a_captured_message_carries_its_transaction_and_the_decisions(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(RULES))
    server = sinkhole("--mode", "accept", "--capture", "memory", "--rules", str(rules))
    client = server.raw()
    assert client.reply()[0] == 220
    client.send(b"EHLO client.test\r\n")
    assert client.reply()[0] == 250
    send(client, [b"ok@example.com", b"keep@example.com"], b"steps")
    base = f"http://127.0.0.1:{server.http_port}"
    [summary] = requests.get(f"{base}/api/v1/messages", timeout=10).json()["messages"]
    smtp = requests.get(f"{base}/api/v1/message/{summary['ID']}", timeout=10).json()["SMTP"]
    assert smtp["ClientIP"] == "127.0.0.1" and smtp["Helo"] == "client.test" and smtp["MailFrom"] == "a@example.com"
    assert smtp["Recipients"] == ["ok@example.com", "keep@example.com"]
    steps = [(s["Command"], s["Reply"], s["Decision"]) for s in smtp["Transaction"]]
    assert steps[:4] == [
        ("MAIL FROM:<a@example.com>", "250 2.1.0 OK", None),
        ("RCPT TO:<ok@example.com>", "250 2.1.5 OK", None),
        ("RCPT TO:<keep@example.com>", "550 5.1.1 No such user", "rule refuse-but-keep"),
        ("DATA", "354 End data with <CR><LF>.<CR><LF>", None),
    ]
    assert steps[4][0] == "." and steps[4][1].startswith("250 2.0.0 OK queued as ")
