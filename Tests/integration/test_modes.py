"""Each mode, driven by Python's smtplib against the real binary."""

import smtplib
import time
import uuid

import pytest

from conftest import CLIENT_NAME, HOSTNAME, queue_id

GREETING = (220, f"{HOSTNAME} ESMTP sinkhole".encode())
EXTENSIONS = {b"PIPELINING", b"SIZE 26214400", b"8BITMIME", b"ENHANCEDSTATUSCODES", b"SMTPUTF8", b"DSN", b"CHUNKING",
              b"BINARYMIME", b"XCLIENT NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT", b"XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"}
MAIL_OK = (250, b"2.1.0 OK")
RCPT_OK = (250, b"2.1.5 OK")
DEFERRED = (421, b"4.3.2 Service temporarily unavailable")
GREYLISTED = (421, b"4.3.2 Greylisted, try again later")


def simple_message(subject: str = "hello", body: str = "just a test") -> bytes:
    return (
        f"From: sender@example.com\r\nTo: rcpt@sinkhole.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@example.com>\r\n\r\n{body}\r\n"
    ).encode()


def assert_closed_by_server(client: smtplib.SMTP) -> None:
    """The next read gets EOF, and smtplib then reports the server gone."""
    assert client.file is not None
    assert client.file.readline() == b"", "server did not close the connection"
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()


def test_defer_is_the_default_mode_and_closes_after_rcpt(sinkhole):
    server = sinkhole()  # no --mode
    assert server.listening["mode"] == "defer"
    client = server.smtp()
    port = client.client_port
    assert client.greeting == GREETING

    code, text = client.ehlo()
    lines = text.split(b"\n")
    assert code == 250
    assert lines[0] == HOSTNAME.encode()
    assert set(lines[1:]) == EXTENSIONS
    assert client.mail("sender@example.com") == MAIL_OK
    assert client.rcpt("rcpt@sinkhole.test") == DEFERRED
    assert_closed_by_server(client)

    connection = server.connection_log(port)
    assert connection["mode"] == "defer"
    assert connection["outcome"] == "refused"
    assert connection["last_reply"] == 421
    assert connection["rcpt_refused"] == 1 and connection["rcpt_accepted"] == 0
    assert connection["messages"] == 0
    assert connection["commands"] == 3
    assert isinstance(connection["duration_ms"], int)
    # In defer mode the connection line is the only line for that connection.
    mine = server.logs(lambda e: e.get("client") == f"127.0.0.1:{port}")
    assert [e["event"] for e in mine] == ["connection"]
    assert not server.logs(lambda e: e["event"] == "message")


def test_defer_with_helo_instead_of_ehlo(sinkhole):
    server = sinkhole("--mode", "defer")
    client = server.smtp()
    assert client.helo() == (250, HOSTNAME.encode())
    assert client.mail("<>") == MAIL_OK
    assert client.rcpt("rcpt@sinkhole.test") == DEFERRED
    assert_closed_by_server(client)


def test_bounce_refuses_recipients_and_the_session_continues(sinkhole):
    server = sinkhole("--mode", "bounce")
    client = server.smtp()
    assert client.greeting == GREETING
    assert client.ehlo()[0] == 250
    assert client.mail("sender@example.com") == MAIL_OK
    assert client.rcpt("one@sinkhole.test") == (550, b"5.1.1 User unknown")
    assert client.rcpt("two@sinkhole.test") == (550, b"5.1.1 User unknown")
    assert client.docmd("DATA") == (554, b"5.5.1 No valid recipients")
    assert client.noop() == (250, b"2.0.0 OK")
    # A second transaction in the same session (after RSET, as Postfix also
    # keeps the refused transaction open) is refused the same way.
    assert client.rset() == (250, b"2.0.0 OK")
    assert client.mail("other@example.com") == MAIL_OK
    assert client.rcpt("three@sinkhole.test") == (550, b"5.1.1 User unknown")
    port = client.client_port
    assert client.quit() == (221, b"2.0.0 Bye")

    connection = server.connection_log(port)
    assert connection["mode"] == "bounce"
    assert connection["outcome"] == "quit"
    assert connection["rcpt_refused"] == 3


def test_bounce_sendmail_raises_recipients_refused(sinkhole):
    server = sinkhole("--mode", "bounce")
    client = server.smtp()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail("sender@example.com", ["x@sinkhole.test"], simple_message())
    assert refused.value.recipients == {"x@sinkhole.test": (550, b"5.1.1 User unknown")}
    assert client.noop() == (250, b"2.0.0 OK")
    client.quit()


def test_accept_queues_two_messages_in_one_session(sinkhole):
    server = sinkhole("--mode", "accept")
    client = server.smtp()
    assert client.ehlo()[0] == 250

    ids = []
    for n in range(2):
        assert client.mail(f"sender{n}@example.com") == MAIL_OK
        assert client.rcpt(f"rcpt{n}@sinkhole.test") == RCPT_OK
        ids.append(queue_id(client.data(simple_message(subject=f"message {n}"))))
    assert ids[0] != ids[1]
    port = client.client_port
    assert client.quit() == (221, b"2.0.0 Bye")

    connection = server.connection_log(port)
    assert connection["mode"] == "accept"
    assert connection["messages"] == 2
    assert connection["rcpt_accepted"] == 2
    assert connection["outcome"] == "quit"
    # accept (without -log) never logs messages.
    assert not server.logs(lambda e: e["event"] == "message")


def test_accept_log_logs_envelope_and_headers_but_never_the_body(sinkhole):
    server = sinkhole("--mode", "accept-log")
    marker = f"BODY-MARKER-{uuid.uuid4().hex}"
    subject = f"subject-{uuid.uuid4().hex[:8]}"
    message = simple_message(subject=subject, body=f"first line\r\n{marker}\r\nlast line")

    client = server.smtp()
    port = client.client_port
    assert client.ehlo()[0] == 250
    assert client.mail("sender@example.com") == MAIL_OK
    assert client.rcpt("one@sinkhole.test") == RCPT_OK
    assert client.rcpt("two@sinkhole.test") == RCPT_OK
    qid = queue_id(client.data(message))
    client.quit()

    logged = server.wait_for_log(lambda e: e["event"] == "message")
    assert logged["client"] == f"127.0.0.1:{port}"
    assert logged["helo"] == CLIENT_NAME
    assert logged["mail_from"] == "<sender@example.com>"
    assert logged["rcpt"] == ["<one@sinkhole.test>", "<two@sinkhole.test>"]
    assert logged["size"] == len(message)
    assert logged["queue_id"] == qid
    assert f"Subject: {subject}\r\n" in logged["headers"]
    assert logged["headers"].startswith("From: sender@example.com\r\n")
    assert "first line" not in logged["headers"]
    assert "headers_truncated" not in logged

    server.connection_log(port)
    assert marker not in server.stdout_text()


def test_accept_log_caps_the_logged_header_block(sinkhole):
    server = sinkhole("--mode", "accept-log", "--header-log-limit", "1K")
    marker = f"BODY-MARKER-{uuid.uuid4().hex}"
    filler = "".join(f"X-Filler-{i:03d}: {'y' * 60}\r\n" for i in range(80))  # ~6 KiB of headers
    headers = f"From: a@example.com\r\nSubject: big headers\r\n{filler}"
    assert len(headers) > 5 * 1024
    message = f"{headers}\r\n{marker}\r\n".encode()

    client = server.smtp()
    client.ehlo()
    assert client.mail("a@example.com") == MAIL_OK
    assert client.rcpt("b@sinkhole.test") == RCPT_OK
    qid = queue_id(client.data(message))
    client.quit()

    logged = server.wait_for_log(lambda e: e["event"] == "message")
    assert logged["queue_id"] == qid
    assert logged["size"] == len(message)
    # The flag is emitted as a JSON string "true" today; a JSON boolean would be better.
    assert logged.get("headers_truncated") in (True, "true")
    assert 0 < len(logged["headers"].encode()) <= 1024
    assert logged["headers"].startswith("From: a@example.com\r\nSubject: big headers\r\n")
    assert marker not in server.stdout_text()


def greylist_attempt(server) -> tuple[smtplib.SMTP, tuple[int, bytes]]:
    client = server.smtp()
    client.ehlo()
    assert client.mail("sender@example.com") == MAIL_OK
    return client, client.rcpt("rcpt@sinkhole.test")


def test_greylist_defers_first_attempt_and_accepts_the_retry(sinkhole):
    server = sinkhole("--mode", "greylist")
    first, reply = greylist_attempt(server)
    assert reply == GREYLISTED
    assert_closed_by_server(first)
    connection = server.connection_log(first.client_port)
    assert connection["decided_by"] == "greylist"

    retry, reply = greylist_attempt(server)
    assert reply == RCPT_OK
    queue_id(retry.data(simple_message()))
    assert retry.quit() == (221, b"2.0.0 Bye")


def test_greylist_with_451_reply_keeps_the_session_open_and_greylisted(sinkhole):
    server = sinkhole("--mode", "greylist", "--greylist-reply", "451 4.7.1 Greylisted")
    first, reply = greylist_attempt(server)
    assert reply == (451, b"4.7.1 Greylisted")
    # The session stays open and stays greylisted, even for the next recipient.
    assert first.noop() == (250, b"2.0.0 OK")
    assert first.rcpt("another@sinkhole.test") == (451, b"4.7.1 Greylisted")
    assert first.docmd("DATA") == (554, b"5.5.1 No valid recipients")

    # Meanwhile a new connection from the same IP is a retry: accepted.
    retry, reply = greylist_attempt(server)
    assert reply == RCPT_OK
    queue_id(retry.data(simple_message()))
    retry.quit()

    # The first session, still open, is still greylisted.
    assert first.rset() == (250, b"2.0.0 OK")
    assert first.mail("sender@example.com") == MAIL_OK
    assert first.rcpt("third@sinkhole.test") == (451, b"4.7.1 Greylisted")
    assert first.quit() == (221, b"2.0.0 Bye")


def test_greylist_entry_expires_after_the_window(sinkhole):
    window = 1.0
    server = sinkhole("--mode", "greylist", "--greylist-window", "1s")
    _, reply = greylist_attempt(server)
    assert reply == GREYLISTED
    retry, reply = greylist_attempt(server)
    assert reply == RCPT_OK, "the retry came within the 1 s window and should be accepted"
    retry.quit()
    accepted_at = time.monotonic()

    # Every attempt, even a deferred one, renews the entry for a window, so
    # polling faster than the window would keep it alive: each try waits a
    # full window (plus margin) after the previous one. Deadline 3 tries.
    for _ in range(3):
        time.sleep(window + 0.3)
        late, reply = greylist_attempt(server)
        if reply == GREYLISTED:
            break
        late.quit()
    assert reply == GREYLISTED, f"still accepted {time.monotonic() - accepted_at:.1f}s after the last attempt"
    assert_closed_by_server(late)


def test_each_mode_reply_can_be_overridden(sinkhole):
    # A defer reply that is not a 421 keeps the session open.
    server = sinkhole("--mode", "defer", "--defer-reply", "450 4.2.0 Try later")
    client = server.smtp()
    client.ehlo()
    assert client.mail("a@example.com") == MAIL_OK
    assert client.rcpt("b@sinkhole.test") == (450, b"4.2.0 Try later")
    assert client.noop() == (250, b"2.0.0 OK")
    assert client.rcpt("c@sinkhole.test") == (450, b"4.2.0 Try later")
    assert client.quit() == (221, b"2.0.0 Bye")

    server = sinkhole("--mode", "bounce", "--bounce-reply", "550 5.7.1 Go away")
    client = server.smtp()
    client.ehlo()
    client.mail("a@example.com")
    assert client.rcpt("b@sinkhole.test") == (550, b"5.7.1 Go away")
    client.quit()

    server = sinkhole("--mode", "accept", "--accept-reply", "250 2.1.5 Fine")
    client = server.smtp()
    client.ehlo()
    client.mail("a@example.com")
    assert client.rcpt("b@sinkhole.test") == (250, b"2.1.5 Fine")
    queue_id(client.data(simple_message()))
    client.quit()


def test_accept_log_never_logs_the_body_of_a_bare_lf_message(sinkhole):
    """A sloppy client's LF-only message: the blank line still ends the headers."""
    server = sinkhole("--mode", "accept-log")
    marker = f"BODY-MARKER-{uuid.uuid4().hex}"
    client = server.raw()
    client.reply()
    client.send(b"EHLO client.test\r\n")
    client.reply()
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@sinkhole.test>\r\nDATA\r\n")
    assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: lf only\nX-A: 1\n\n" + marker.encode() + b"\nmore body\r\n.\r\n")
    qid = queue_id(client.reply1())
    logged = server.wait_for_log(lambda e: e["event"] == "message")
    assert logged["queue_id"] == qid
    assert logged["headers"].startswith("Subject: lf only\nX-A: 1\n")
    assert marker not in server.stdout_text()


def test_accept_log_line_is_valid_json_whatever_the_bytes(sinkhole):
    server = sinkhole("--mode", "accept-log")
    client = server.raw()
    client.reply()
    client.send("EHLO ünïcode.test\r\n".encode())
    client.reply()
    client.send('MAIL FROM:<ä@example.com> SMTPUTF8\r\nRCPT TO:<"q \\" x"@sinkhole.test>\r\nDATA\r\n'.encode())
    assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]
    client.send(b'X-Bin: \x00\x01\xff\xfe\x1b\x7f\t"\\ \xe2\x82\r\nSubject: \xe2\x82\xac\r\n\r\nbody\r\n.\r\n')
    queue_id(client.reply1())
    logged = server.wait_for_log(lambda e: e["event"] == "message")  # parsed as JSON
    assert logged["helo"] == "ünïcode.test"
    assert logged["mail_from"] == "<ä@example.com>"
    assert logged["rcpt"] == ['<"q \\" x"@sinkhole.test>']
    assert logged["headers"].startswith("X-Bin: \x00\x01")
    assert "Subject: €\r\n" in logged["headers"]
