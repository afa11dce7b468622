"""RFC 5321 behaviour: sequence rules, limits, pipelining, garbage, smuggling.

smtplib where it can say it; a raw socket for pipelined batches, garbage and
oversize lines.
"""

import random
import socket
import ssl
import threading
import time

from conftest import HOSTNAME, queue_id, raw_session

OK = (250, b"2.0.0 OK")
MAIL_OK = (250, b"2.1.0 OK")
RCPT_OK = (250, b"2.1.5 OK")
TOO_BIG = (552, b"5.3.4 Message size exceeds fixed limit")
LINE_TOO_LONG = (500, b"5.5.6 Line too long")
UNRECOGNIZED = (500, b"5.5.2 Command not recognized")
INVALID_CHARACTERS = (500, b"5.5.2 Invalid characters in command")


# -- pipelining -------------------------------------------------------------


def test_pipelined_batches_are_answered_in_order(sinkhole):
    server = sinkhole("--mode", "accept")
    client = raw_session(server)
    client.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n")
    assert client.reply1() == MAIL_OK
    assert client.reply1() == RCPT_OK
    assert client.reply1() == RCPT_OK
    assert client.reply1() == (354, b"End data with <CR><LF>.<CR><LF>")

    # The body, its terminator and the next commands in one write: bytes after
    # the dot are commands again.
    client.send(b"Subject: pipelined\r\n\r\nbody line\r\n.\r\nMAIL FROM:<x@y>\r\nQUIT\r\n")
    queue_id(client.reply1())
    assert client.reply1() == MAIL_OK
    assert client.reply1() == (221, b"2.0.0 Bye")
    assert client.at_eof()


def test_data_body_and_quit_in_one_write(sinkhole):
    """Bytes after DATA are body even when they arrive before the 354 is sent."""
    server = sinkhole("--mode", "accept")
    client = raw_session(server)
    client.send(
        b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
        b"Subject: eager\r\n\r\nQUIT\r\nRSET\r\n.\r\nQUIT\r\n"
    )
    assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]
    queue_id(client.reply1())
    assert client.reply1() == (221, b"2.0.0 Bye")
    assert client.at_eof()


def test_pipelined_batch_with_refused_recipients_in_bounce_mode(sinkhole):
    server = sinkhole("--mode", "bounce")
    client = raw_session(server)
    client.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\nRSET\r\nNOOP\r\n")
    assert [client.reply1() for _ in range(6)] == [
        MAIL_OK,
        (550, b"5.1.1 User unknown"),
        (550, b"5.1.1 User unknown"),
        (554, b"5.5.1 No valid recipients"),
        OK,
        OK,
    ]


def test_a_flood_of_pipelined_commands_is_answered_in_full_and_in_order(sinkhole):
    """A client that writes far more than it reads: the server applies back-pressure, loses nothing."""
    server = sinkhole("--mode", "accept")
    client = server.raw(timeout=30)
    client.reply()
    count = 20000
    writer = threading.Thread(target=client.send, args=(b"NOOP\r\n" * count + b"QUIT\r\n",), daemon=True)
    writer.start()
    replies = client.replies_until_eof()
    writer.join(timeout=30)
    assert len(replies) == count + 1
    assert set(replies[:-1]) == {OK}
    assert replies[-1] == (221, b"2.0.0 Bye")


# -- oversize command lines -------------------------------------------------


def test_oversize_command_line_gets_500_and_the_session_continues(sinkhole):
    server = sinkhole("--mode", "accept")
    client = server.smtp(timeout=5)
    client.ehlo()
    line_argument = "x" * (3000 - len("NOOP "))
    assert client.docmd("NOOP", line_argument) == LINE_TOO_LONG
    assert client.noop() == OK
    assert client.mail("a@example.com") == MAIL_OK
    assert client.quit() == (221, b"2.0.0 Bye")
    limit = server.wait_for_log(lambda e: e["event"] == "limit_exceeded")
    assert limit["limit"] == "command_line_length" and limit["max"] == 2048


def test_oversize_line_pipelined_with_the_next_commands(sinkhole):
    server = sinkhole("--mode", "accept")
    client = raw_session(server, timeout=5)
    client.send(b"NOOP " + b"x" * 3000 + b"\r\nNOOP\r\nMAIL FROM:<a@b>\r\n")
    assert client.reply1() == LINE_TOO_LONG
    assert client.reply1() == OK
    assert client.reply1() == MAIL_OK


def test_megabyte_line_without_newline_gets_one_500(sinkhole):
    server = sinkhole("--mode", "accept")
    client = raw_session(server)
    rss_before = server.rss()
    client.send(b"x" * (1 << 20))
    client.send(b"\r\nNOOP\r\n")
    assert client.reply1() == LINE_TOO_LONG
    assert client.reply1() == OK
    # Exactly one 500: the next reply belongs to the next command.
    assert client.command(b"NOOP") == OK
    assert server.rss() - rss_before < 8 << 20, "the long line was buffered"


def test_max_line_length_flag_is_honoured(sinkhole):
    server = sinkhole("--mode", "accept", "--max-line-length", "600")
    # 600 bytes (CRLF not counted) is allowed...
    client = raw_session(server)
    assert client.command(b"NOOP " + b"x" * 595) == OK
    # ...601 is not.
    assert client.command(b"NOOP " + b"x" * 596) == LINE_TOO_LONG
    client.close()
    # The default (2048) no longer applies: 1000 bytes is too long.
    client = raw_session(server)
    assert client.command(b"NOOP " + b"x" * 995) == LINE_TOO_LONG


# -- message size -----------------------------------------------------------


def test_message_over_the_size_limit(sinkhole):
    server = sinkhole("--mode", "accept", "--max-message-size", "1K")
    client = server.smtp()
    client.ehlo()
    assert client.esmtp_features["size"] == "1024"

    # Declared too big: refused at MAIL, and no transaction opened.
    assert client.mail("a@example.com", ["SIZE=2048"]) == TOO_BIG
    assert client.docmd("RCPT", "TO:<b@sinkhole.test>") == (503, b"5.5.1 Need MAIL command")

    # Not declared: detected while streaming, answered after the final dot.
    assert client.mail("a@example.com") == MAIL_OK
    assert client.rcpt("b@sinkhole.test") == RCPT_OK
    body = b"Subject: big\r\n\r\n" + b"".join(b"%0100d\r\n" % i for i in range(41))
    assert len(body) > 4096
    assert client.data(body) == TOO_BIG
    # The rest of the data was read and discarded: the session is in sync.
    assert client.mail("a@example.com") == MAIL_OK
    assert client.rcpt("b@sinkhole.test") == RCPT_OK
    assert client.data(b"Subject: small\r\n\r\nsmall\r\n")[0] == 250
    client.quit()
    limit = server.wait_for_log(lambda e: e["event"] == "limit_exceeded")
    assert limit["limit"] == "message_size" and limit["max"] == 1024


def test_message_size_limit_boundary(sinkhole):
    server = sinkhole("--mode", "accept", "--max-message-size", "1K")
    client = server.smtp()
    client.ehlo()
    for size, accepted in [(1024, True), (1025, False)]:
        head = b"Subject: boundary\r\n\r\n"
        body = head + b"y" * (size - len(head) - 2) + b"\r\n"
        assert len(body) == size
        assert client.mail("a@example.com", [f"SIZE={size}"]) == (MAIL_OK if accepted else TOO_BIG)
        if not accepted:
            assert client.mail("a@example.com") == MAIL_OK
        assert client.rcpt("b@sinkhole.test") == RCPT_OK
        reply = client.data(body)
        if accepted:
            queue_id(reply)
        else:
            assert reply == TOO_BIG
    client.quit()


# -- recipients -------------------------------------------------------------


def test_too_many_recipients(sinkhole):
    server = sinkhole("--mode", "accept-log", "--max-recipients", "2")
    client = server.smtp()
    client.ehlo()
    assert client.mail("a@example.com") == MAIL_OK
    assert client.rcpt("one@sinkhole.test") == RCPT_OK
    assert client.rcpt("two@sinkhole.test") == RCPT_OK
    assert client.rcpt("three@sinkhole.test") == (452, b"4.5.3 Too many recipients")
    assert client.rcpt("four@sinkhole.test") == (452, b"4.5.3 Too many recipients")
    qid = queue_id(client.data(b"Subject: two recipients\r\n\r\nhi\r\n"))
    client.quit()
    logged = server.wait_for_log(lambda e: e["event"] == "message")
    assert logged["queue_id"] == qid
    assert logged["rcpt"] == ["<one@sinkhole.test>", "<two@sinkhole.test>"]


# -- sequence and syntax ----------------------------------------------------


def test_sequence_and_syntax_errors(sinkhole):
    server = sinkhole("--mode", "accept")
    client = server.smtp()
    assert client.docmd("MAIL", "FROM:<a@example.com>") == (503, b"5.5.1 Send HELO/EHLO first")
    assert client.docmd("RCPT", "TO:<b@example.com>") == (503, b"5.5.1 Send HELO/EHLO first")
    assert client.docmd("HELO") == (501, b"5.5.4 Syntax: HELO hostname")
    assert client.ehlo()[0] == 250

    assert client.docmd("RCPT", "TO:<b@example.com>") == (503, b"5.5.1 Need MAIL command")
    assert client.docmd("DATA") == (503, b"5.5.1 Need MAIL command")
    assert client.docmd("MAIL", "FROM:bad<") == (501, b"5.5.4 Syntax: MAIL FROM:<address>")
    assert client.docmd("MAIL", "FROM:<a@example.com> FOO=bar") == (555, b"5.5.4 Unsupported parameter FOO")
    assert client.docmd("MAIL", "FROM:<a@example.com> SIZE=abc") == (501, b"5.5.4 Bad value for parameter SIZE")
    assert client.docmd("MAIL", "FROM:<a@example.com>") == MAIL_OK
    assert client.docmd("MAIL", "FROM:<a@example.com>") == (503, b"5.5.1 Nested MAIL command")
    assert client.docmd("DATA") == (503, b"5.5.1 Need RCPT command")
    assert client.docmd("RCPT", "TO:<>") == (501, b"5.1.3 Bad recipient address syntax")
    assert client.docmd("DATA", "now") == (501, b"5.5.4 Syntax: DATA takes no parameters")
    assert client.docmd("FOO") == UNRECOGNIZED
    assert client.docmd("STARTTLS") == (502, b"5.5.1 Command not implemented")
    assert client.docmd("AUTH", "PLAIN") == (502, b"5.5.1 Command not implemented")
    assert client.docmd("VRFY", "someone") == (
        252, b"2.5.2 Cannot VRFY user, but will accept message and attempt delivery"
    )
    assert client.docmd("HELP") == (214, b"2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP")
    assert client.rset() == OK

    # Verbs are case-insensitive; the null sender is allowed; ESMTP parameters parsed.
    assert client.docmd("mail", "from:<> SIZE=100 BODY=8BITMIME SMTPUTF8") == MAIL_OK
    assert client.docmd("rcpt", "to:<Postmaster>") == RCPT_OK
    assert client.data(b"Subject: null sender\r\n\r\n..a stuffed line\r\n")[0] == 250
    assert client.quit() == (221, b"2.0.0 Bye")


# -- garbage ----------------------------------------------------------------


def tls_client_hello() -> bytes:
    """The bytes a TLS client sends first, made by Python's own ssl module."""
    context = ssl.create_default_context()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO(), server_hostname=HOSTNAME)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    assert hello[:1] == b"\x16", hello[:8]  # a TLS handshake record
    return hello


TOO_MANY_ERRORS = (421, b"4.7.0 Too many errors")


def replies_after_half_close(server, data: bytes) -> list[tuple[int, bytes]]:
    """Sends `data` after the greeting, closes our side, reads every reply until the server closes."""
    client = server.raw()
    client.reply()
    client.send(data)
    client.sock.shutdown(socket.SHUT_WR)
    replies = client.replies_until_eof()
    client.close()
    return replies


def test_garbage_bytes_get_500_replies_or_a_clean_close(sinkhole):
    server = sinkhole("--mode", "accept")
    rng = random.Random(5321)
    samples = {
        "random": bytes(rng.randrange(256) for _ in range(16384)),
        "random with NULs and line ends": bytes(rng.choice(b"\x00\r\n\xff\xfe\x80A ") for _ in range(4096)),
        "TLS ClientHello": tls_client_hello(),
        "TLS ClientHello with CRLF": tls_client_hello() + b"\r\n",
        "binary then a line end": b"\x00\x01\x02\x03\xff" * 1000 + b"\r\n",
    }
    for name, data in samples.items():
        replies = replies_after_half_close(server, data)
        # 5xx for each bad line; past 20 errors, 421 4.7.0 and a close.
        errors = [r for r in replies if r != TOO_MANY_ERRORS]
        assert all(500 <= code <= 599 for code, _ in errors), (name, replies)
        assert len(errors) <= 20, (name, len(errors))
        assert TOO_MANY_ERRORS not in replies[:-1], (name, replies)
        if len(errors) == 20:
            assert replies[-1] == TOO_MANY_ERRORS, (name, replies[-3:])
        server.assert_alive()

    # Each kind, exactly.
    client = raw_session(server)
    client.send(b"\x00\x00\x00\r\n" b"\xff\xfe\xfd\r\n" b"EHLO \xc3\x28\r\n" b"NO\rOP\r\n" b"\x1b[2J\r\n")
    assert [client.reply1() for _ in range(5)] == [INVALID_CHARACTERS] * 5
    assert client.command(b"NOOP") == OK
    client.close()

    # An HTTP request: 554 and a close, at once.
    client = raw_session(server)
    client.send(b"GET / HTTP/1.1\r\nHost: sinkhole.test\r\nUser-Agent: curl/8\r\n\r\n")
    assert client.reply1() == (554, b"5.7.0 HTTP request on an SMTP port")
    assert client.at_eof()
    assert server.connection_log(client.client_port)["outcome"] == "http_request"

    # And a normal client is served afterwards.
    smtp = server.smtp()
    smtp.ehlo()
    assert smtp.mail("a@example.com") == MAIL_OK
    assert smtp.rcpt("b@sinkhole.test") == RCPT_OK
    queue_id(smtp.data(b"Subject: after garbage\r\n\r\nfine\r\n"))
    smtp.quit()
    server.assert_alive()


def test_smtp_smuggling_bare_line_ends_do_not_end_the_data(sinkhole):
    server = sinkhole("--mode", "accept-log")
    client = raw_session(server)
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@sinkhole.test>\r\nDATA\r\n")
    assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]

    body = (
        b"Subject: smuggling\r\n\r\n"
        b"one\n.\nMAIL FROM:<evil1@example.com>\r\n"  # \n.\n
        b".\nRCPT TO:<evil2@example.com>\n"           # \r\n.\n (a dot at the start of a CRLF line)
        b".\r\nDATA\r\n"                              # \n.\r\n
        b"two"
    )
    client.send(body + b"\r\n.\r\nMAIL FROM:<next@example.com>\r\n")
    qid = queue_id(client.reply1())
    # The next reply is for the MAIL after the real terminator: one message, no smuggled commands.
    assert client.reply1() == MAIL_OK
    assert client.command(b"QUIT") == (221, b"2.0.0 Bye")

    logged = server.wait_for_logs(lambda e: e["event"] == "message", 1)
    assert len(logged) == 1
    assert logged[0]["queue_id"] == qid
    assert logged[0]["mail_from"] == "<a@example.com>"
    assert logged[0]["rcpt"] == ["<b@sinkhole.test>"]
    # Content: the body and the CRLF before the final dot, less the one dot that
    # starts a CRLF line (".\nRCPT...", removed as dot-stuffing by RFC 5321 §4.5.2).
    assert logged[0]["size"] == len(body) + 2 - 1
    server.connection_log(client.client_port)
    assert len(server.logs(lambda e: e["event"] == "message")) == 1


def test_dot_unstuffing_is_the_same_whole_or_byte_by_byte(sinkhole):
    server = sinkhole("--mode", "accept-log")
    message = b"Subject: bytewise\r\nX-A: 1\r\n\r\n..stuffed\r\n.\rnot the end\r\nbody\r\n"
    # RFC 5321 §4.5.2: a line starting with a dot and holding more has that dot deleted (2 here).
    expected_size = len(message) - 2
    for n, delivery in enumerate(["whole", "byte by byte"], start=1):
        client = raw_session(server)
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
        assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]
        data = message + b".\r\n"
        if delivery == "whole":
            client.send(data)
        else:
            for byte in data:
                client.send(bytes([byte]))
                time.sleep(0.001)  # separate segments, so the server reads them apart
        qid = queue_id(client.reply1())
        logged = server.wait_for_logs(lambda e: e["event"] == "message", n)[-1]
        assert logged["queue_id"] == qid
        assert logged["size"] == expected_size, delivery
        assert logged["headers"] == "Subject: bytewise\r\nX-A: 1\r\n", delivery
        assert client.command(b"NOOP") == OK
