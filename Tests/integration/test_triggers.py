"""BadSMTP's client triggers, row by row of badsmtp-spec.md's tables, and
sinkhole's additions (del<N>, drop), driven by smtplib and raw sockets."""

from __future__ import annotations

import time

import pytest

from conftest import HOSTNAME, raw_session

MAIL_OK = (250, b"2.1.0 OK")
RCPT_OK = (250, b"2.1.5 OK")
TEXTS = {
    421: b"Service not available, closing transmission channel",
    450: b"Requested mail action not taken: mailbox unavailable",
    451: b"Requested action aborted: local error in processing",
    452: b"Requested action not taken: insufficient system storage",
    500: b"Syntax error, command unrecognized",
    501: b"Syntax error in parameters or arguments",
    502: b"Command not implemented",
    503: b"Bad sequence of commands",
    504: b"Command parameter not implemented",
    521: b"Machine does not accept mail",
    535: b"Authentication failed",
    550: b"Requested action not taken: mailbox unavailable",
    551: b"User not local; please try forward path",
    552: b"Requested mail action aborted: exceeded storage allocation",
    553: b"Requested action not taken: mailbox name not allowed",
    554: b"Transaction failed",
    571: b"Blocked - see https://example.com/blocked",
    454: b"Unknown error",
    250: b"Unknown error",
}


@pytest.fixture
def server(sinkhole):
    return sinkhole("--mode", "accept")


def session(server, ehlo: bytes = b"client.test"):
    client = server.raw()
    assert client.reply()[0] == 220
    client.send(b"EHLO " + ehlo + b"\r\n")
    code, lines = client.reply()
    return client, code, lines


@pytest.mark.parametrize("code", sorted(TEXTS))
def test_rcpt_code_gets_badsmtps_text_and_the_recipient_is_not_added(server, code):
    client, _, _ = session(server)
    assert client.command(b"MAIL FROM:<a@example.com>") == MAIL_OK
    reply = client.command(f"RCPT TO:<rcpt{code}@example.com>".encode())
    assert reply == (code, TEXTS[code])
    if code == 421:
        assert client.at_eof(), "421 always closes"
        return
    # Not added: with no other recipient DATA is refused.
    assert client.command(b"DATA")[0] == 554
    assert client.command(b"RCPT TO:<ok@example.com>") == RCPT_OK
    assert client.command(b"QUIT") == (221, b"2.0.0 Bye")


def test_enhanced_code_only_after_ehlo_and_not_after_helo(server):
    client, _, _ = session(server)
    client.command(b"MAIL FROM:<a@example.com>")
    assert client.command(b"RCPT TO:<rcpt550_5.1.1@example.com>") == (550, b"5.1.1 " + TEXTS[550])
    client.command(b"QUIT")
    client = server.raw()
    client.reply()
    assert client.command(b"HELO client.test") == (250, HOSTNAME.encode())
    client.command(b"MAIL FROM:<a@example.com>")
    assert client.command(b"RCPT TO:<rcpt550_5.1.1@example.com>") == (550, TEXTS[550])
    client.command(b"QUIT")


def test_mail_trigger_replaces_the_250_and_leaves_no_transaction(server):
    client, _, _ = session(server)
    assert client.command(b"MAIL FROM:<MAIL500@EXAMPLE.COM>") == (500, TEXTS[500])
    assert client.command(b"MAIL FROM:<mail250@example.com>") == (250, b"Unknown error")
    assert client.command(b"RCPT TO:<b@example.com>") == (503, b"5.5.1 Need MAIL command")
    assert client.command(b"MAIL FROM:<mail452_4.3.1@example.com>") == (452, b"4.3.1 " + TEXTS[452])
    assert client.command(b"MAIL FROM:<a@example.com>") == MAIL_OK
    client.command(b"QUIT")


def test_rcpt_in_mail_from_does_nothing(server):
    client, _, _ = session(server)
    assert client.command(b"MAIL FROM:<rcpt550@example.com>") == MAIL_OK
    assert client.command(b"RCPT TO:<b@example.com>") == RCPT_OK
    client.command(b"QUIT")


def test_data_trigger_armed_by_mail_answers_data_instead_of_354(server):
    client, _, _ = session(server)
    assert client.command(b"MAIL FROM:<data554@example.com>") == MAIL_OK
    assert client.command(b"RCPT TO:<b@example.com>") == RCPT_OK
    assert client.command(b"DATA") == (554, TEXTS[554])
    # Armed triggers survive RSET.
    assert client.command(b"RSET") == (250, b"2.0.0 OK")
    client.command(b"MAIL FROM:<a@example.com>")
    client.command(b"RCPT TO:<b@example.com>")
    assert client.command(b"DATA")[0] == 354, "a new MAIL re-arms from its own address"
    client.send(b"Subject: x\r\n\r\n.\r\n")
    assert client.reply1()[0] == 250
    client.command(b"QUIT")


def test_rset_noop_and_quit_triggers(server):
    client, _, _ = session(server)
    assert client.command(b"MAIL FROM:<rset451@example.com>") == MAIL_OK
    assert client.command(b"RSET") == (451, TEXTS[451])
    # A failing RSET resets nothing: the transaction is still open.
    assert client.command(b"RCPT TO:<b@example.com>") == RCPT_OK
    client.command(b"QUIT")

    client, _, _ = session(server)
    assert client.command(b"MAIL FROM:<noop502@example.com>") == MAIL_OK
    assert client.command(b"NOOP") == (502, TEXTS[502])
    assert client.command(b"NOOP") == (502, TEXTS[502])
    client.command(b"QUIT")

    client, _, _ = session(server)
    assert client.command(b"MAIL FROM:<quit550@example.com>") == MAIL_OK
    assert client.command(b"QUIT") == (550, TEXTS[550])
    assert client.at_eof(), "QUIT closes whatever its reply"


def test_a_completed_message_clears_the_armed_triggers(server):
    client, _, _ = session(server)
    client.command(b"MAIL FROM:<noop451@example.com>")
    client.command(b"RCPT TO:<b@example.com>")
    assert client.command(b"DATA")[0] == 354
    client.send(b"Subject: x\r\n\r\n.\r\n")
    assert client.reply1()[0] == 250
    assert client.command(b"NOOP") == (250, b"2.0.0 OK")
    client.command(b"QUIT")


@pytest.mark.parametrize("name, code", [(b"helo500.example.com", 500), (b"ehlo421.x", 421), (b"HELO550.x", 550)])
def test_helo_name_trigger_and_the_session_may_retry(server, name, code):
    client = server.raw()
    client.reply()
    assert client.command(b"EHLO " + name) == (code, TEXTS[code])
    if code == 421:
        assert client.at_eof()
        return
    client.send(b"EHLO client.test\r\n")
    assert client.reply()[0] == 250
    client.command(b"QUIT")


def test_helo_trigger_needs_the_dot(server):
    client = server.raw()
    client.reply()
    client.send(b"EHLO helo500example.com\r\n")
    assert client.reply()[0] == 250


def keywords(lines: list[bytes]) -> list[bytes]:
    return lines[1:]


def test_ehlo_keywords_change_the_offer(server):
    _, code, lines = session(server, b"size10000-no8bit-authplain.example.com")
    assert code == 250
    assert keywords(lines) == [b"PIPELINING", b"SIZE 10000", b"ENHANCEDSTATUSCODES", b"SMTPUTF8", b"DSN", b"CHUNKING",
                               b"BINARYMIME", b"XCLIENT NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT", b"XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"]
    _, _, lines = session(server, b"nosize-nopipelining-authlogin.example.com")
    assert keywords(lines) == [b"8BITMIME", b"ENHANCEDSTATUSCODES", b"SMTPUTF8", b"DSN", b"CHUNKING", b"BINARYMIME",
                               b"XCLIENT NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT", b"XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"]
    _, _, lines = session(server, b"size1.example.com")
    assert b"SIZE 1000" in lines, "size<N> clamps to at least 1000"
    _, _, lines = session(server, b"client.nopipelining.example.com")
    assert b"PIPELINING" in lines, "only the first label counts"


def test_size_keyword_is_the_sessions_limit(server):
    client, _, lines = session(server, b"size2000.example.com")
    assert b"SIZE 2000" in lines
    assert client.command(b"MAIL FROM:<a@example.com> SIZE=3000") == (552, b"5.3.4 Message size exceeds fixed limit")
    client.command(b"MAIL FROM:<a@example.com>")
    client.command(b"RCPT TO:<b@example.com>")
    assert client.command(b"DATA")[0] == 354
    client.send(b"Subject: big\r\n\r\n" + b"x" * 3000 + b"\r\n.\r\n")
    assert client.reply1() == (552, b"5.3.4 Message size exceeds fixed limit")
    client.command(b"QUIT")


def test_noenhancedstatuscodes_drops_them_from_every_reply(server):
    client, _, lines = session(server, b"noenhancedstatuscodes.example.com")
    assert b"ENHANCEDSTATUSCODES" not in lines
    assert client.command(b"MAIL FROM:<a@example.com>") == (250, b"OK")
    assert client.command(b"RCPT TO:<rcpt550_5.1.1@example.com>") == (550, TEXTS[550])
    client.command(b"QUIT")


def test_nosmtputf8_refuses_a_utf8_local_part(server):
    client, _, lines = session(server, b"nosmtputf8.example.com")
    assert b"SMTPUTF8" not in lines
    assert client.command("MAIL FROM:<jöran@example.com>".encode()) == (501, b"Syntax error in parameters")
    assert client.command(b"MAIL FROM:<a@example.com>") == MAIL_OK
    client.command(b"QUIT")


def test_reject_keyword_answers_502_and_helo_still_works(server):
    client, code, lines = session(server, b"reject.example.com")
    assert (code, lines) == (502, [TEXTS[502]])
    assert client.command(b"HELO reject.example.com") == (250, HOSTNAME.encode())
    client.command(b"QUIT")


def test_dlay_delays_the_ehlo_reply_and_every_later_reply(server):
    client = server.raw()
    client.reply()
    started = time.monotonic()
    client.send(b"EHLO dlay1.example.com\r\n")
    assert client.reply()[0] == 250
    assert time.monotonic() - started >= 0.9
    started = time.monotonic()
    assert client.command(b"NOOP") == (250, b"2.0.0 OK")
    assert time.monotonic() - started >= 0.9
    client.send(b"QUIT\r\n")
    client.replies_until_eof()

    client = server.raw()
    client.reply()
    started = time.monotonic()
    client.send(b"EHLO dlay0.example.com\r\n")
    client.reply()
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("address, reply", [
    (b"exists@Example.COM", (250, b"exists@example.com User exists")),
    (b"<existsAlice@example.com>", (250, b"existsAlice@example.com User exists")),
    (b"unknown1@example.com", (551, TEXTS[551])),
    (b"ambiguous@example.com", (553, TEXTS[553])),
    (b"someone@example.com", (252, b"2.5.2 Cannot VRFY user, but will accept message and attempt delivery")),
])
def test_vrfy_by_prefix(server, address, reply):
    client, _, _ = session(server)
    assert client.command(b"VRFY " + address) == reply
    client.command(b"QUIT")


def test_sinkholes_own_del_and_drop(server):
    client, _, _ = session(server)
    client.command(b"MAIL FROM:<a@example.com>")
    started = time.monotonic()
    assert client.command(b"RCPT TO:<rcptdel1@example.com>") == RCPT_OK
    assert time.monotonic() - started >= 0.9
    started = time.monotonic()
    assert client.command(b"RCPT TO:<rcpt451del1@example.com>") == (451, TEXTS[451])
    assert time.monotonic() - started >= 0.9
    client.send(b"RCPT TO:<rcptdrop@example.com>\r\n")
    assert client.at_eof(), "drop: closed without a reply"
    line = server.wait_for_log(lambda e: e["event"] == "connection" and e["outcome"] == "disconnected")
    assert (line["decided_by"], line["trigger"]) == ("trigger", "rcpt")


def test_triggers_off(sinkhole):
    server = sinkhole("--mode", "accept", "--client-triggers", "off")
    client, _, _ = session(server, b"nopipelining-dlay5.example.com")
    assert client.command(b"MAIL FROM:<mail550@example.com>") == MAIL_OK
    assert client.command(b"RCPT TO:<rcpt550@example.com>") == RCPT_OK
    client.command(b"QUIT")


def test_pipelined_triggered_replies_are_never_withheld(server):
    """BadSMTP withholds pipelined replies until DATA/QUIT (spec §10); sinkhole answers each batch at once."""
    client, _, _ = session(server)
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<rcpt450@example.com>\r\nNOOP\r\n")
    assert client.reply1() == MAIL_OK
    assert client.reply1() == (450, TEXTS[450])
    assert client.reply1() == (250, b"2.0.0 OK")
    client.command(b"QUIT")
