"""The badsmtp personality: BadSMTP v0.1.7's normal replies, word for word
(badsmtp-spec.md §0-5), so a suite written against BadSMTP runs against
sinkhole unchanged; and the faults answer as they do in any personality."""

from __future__ import annotations

import smtplib
import socket

import pytest

from conftest import HOSTNAME, RawClient, assert_one_line_error, run_sinkhole

GREETING = f"{HOSTNAME} ESMTP BadSMTP - The Reliably Unreliable Mail Server https://badsmtp.com".encode()
OK = (250, b"OK")
EHLO_LINES = [b"badsmtp.test", b"8BITMIME", b"SIZE 26214400", b"PIPELINING", b"CHUNKING", b"SMTPUTF8",
              b"ENHANCEDSTATUSCODES", b"OK"]
UNRECOGNISED = (500, b"Command not recognised")
SYNTAX = (501, b"Syntax error in parameters")


@pytest.fixture
def server(sinkhole):
    return sinkhole("--mode", "accept", "--personality", "badsmtp")


def greeted(server) -> RawClient:
    client = server.raw()
    assert client.reply() == (220, [GREETING])
    return client


def ehloed(server, name: bytes = b"client.test") -> RawClient:
    client = greeted(server)
    client.send(b"EHLO " + name + b"\r\n")
    assert client.reply()[0] == 250
    return client


def test_a_whole_session_in_badsmtps_words(server):
    client = greeted(server)
    client.send(b"EHLO client.test\r\n")
    assert client.reply() == (250, EHLO_LINES)
    assert client.command(b"MAIL FROM:<a@example.com>") == OK
    assert client.command(b"RCPT TO:<b@example.com>") == OK
    assert client.command(b"RCPT TO:<c@example.com>") == OK
    assert client.command(b"DATA") == (354, b"End data with <CR><LF>.<CR><LF>")
    client.send(b"Subject: hi\r\n\r\nbody\r\n.\r\n")
    assert client.reply1() == (250, b"OK Message accepted for delivery")
    assert client.command(b"NOOP") == OK
    assert client.command(b"RSET") == OK
    assert client.command(b"QUIT") == (221, b"Bye")
    assert client.at_eof()


def test_helo_answers_a_fixed_name(server):
    client = greeted(server)
    assert client.command(b"HELO client.test") == (250, b"badsmtp.test")
    assert client.command(b"MAIL FROM:<a@example.com>") == OK


@pytest.mark.parametrize("line, reply", [
    (b"MAIL FROM:<a@example.com>", (503, b"Bad sequence - MAIL not allowed in HELO state")),
    (b"RCPT TO:<a@example.com>", (503, b"Bad sequence - RCPT not allowed in HELO state")),
    (b"DATA", (503, b"Bad sequence - DATA not allowed in HELO state")),
])
def test_sequence_errors_before_ehlo_name_badsmtps_state(server, line, reply):
    client = greeted(server)
    assert client.command(line) == reply


def test_sequence_errors_after_ehlo_name_badsmtps_states(server):
    client = ehloed(server)
    assert client.command(b"RCPT TO:<a@example.com>") == (503, b"Bad sequence - RCPT not allowed in MAIL state")
    assert client.command(b"DATA") == (503, b"Bad sequence - DATA not allowed in MAIL state")
    assert client.command(b"MAIL FROM:<a@example.com>") == OK
    assert client.command(b"MAIL FROM:<a@example.com>") == (503, b"Bad sequence - MAIL not allowed in RCPT state")
    # BadSMTP accepts DATA with no recipient and stores a message for nobody;
    # sinkhole refuses it, in BadSMTP's generic words.
    assert client.command(b"DATA") == (503, b"Bad sequence of commands")


@pytest.mark.parametrize("line", [b"HELP", b"EXPN list", b"ETRN example.com", b"FOO bar"])
def test_verbs_badsmtp_does_not_know_are_not_recognised(server, line):
    client = ehloed(server)
    assert client.command(line) == UNRECOGNISED


@pytest.mark.parametrize("line", [b"MAIL TO:<a@example.com>", b"EHLO", b"VRFY"])
def test_syntax_errors_are_badsmtps_one_text(server, line):
    client = ehloed(server)
    assert client.command(line) == SYNTAX


@pytest.mark.parametrize("argument, reply", [
    (b"exists@Example.COM", (250, b"exists@example.com User exists")),
    (b"<unknown-bob@example.com>", (551, b"User not local; please try forward path")),
    (b"ambiguous@example.com", (553, b"Requested action not taken: mailbox name not allowed")),
    (b"carol@example.com", (550, b"Requested action not taken: mailbox unavailable")),
    (b"postmaster", SYNTAX),
])
def test_vrfy_as_badsmtp_answers_it(server, argument, reply):
    client = ehloed(server)
    assert client.command(b"VRFY " + argument) == reply


def test_ehlo_keywords_change_the_badsmtp_ehlo_reply(server):
    client = greeted(server)
    client.send(b"EHLO nosize-nopipelining-no8bit.example.com\r\n")
    assert client.reply() == (250, [b"badsmtp.test", b"CHUNKING", b"SMTPUTF8", b"ENHANCEDSTATUSCODES", b"OK"])
    client = greeted(server)
    client.send(b"EHLO size10000.example.com\r\n")
    assert client.reply() == (250, [b"badsmtp.test", b"8BITMIME", b"SIZE 10000", b"PIPELINING", b"CHUNKING", b"SMTPUTF8",
                                    b"ENHANCEDSTATUSCODES", b"OK"])


def test_triggered_replies_are_the_same_in_the_badsmtp_personality(server):
    client = ehloed(server)
    assert client.command(b"MAIL FROM:<a@example.com>") == OK
    assert client.command(b"RCPT TO:<rcpt550_5.1.1@example.com>") == (
        550, b"5.1.1 Requested action not taken: mailbox unavailable")
    client = greeted(server)
    assert client.command(b"HELO client.test") == (250, b"badsmtp.test")
    assert client.command(b"MAIL FROM:<a@example.com>") == OK
    # After HELO a triggered reply carries no enhanced code (BadSMTP §1.3).
    assert client.command(b"RCPT TO:<rcpt452_4.2.2@example.com>") == (
        452, b"Requested action not taken: insufficient system storage")


def test_a_message_over_the_limit_gets_badsmtps_bdat_text(server):
    client = greeted(server)
    client.send(b"EHLO size1000.example.com\r\n")
    assert client.reply()[0] == 250
    assert client.command(b"MAIL FROM:<a@example.com> SIZE=2000") == (
        552, b"Message size exceeds fixed maximum of 1000 bytes")
    assert client.command(b"MAIL FROM:<a@example.com>") == OK
    assert client.command(b"RCPT TO:<b@example.com>") == OK
    assert client.command(b"DATA")[0] == 354
    client.send(b"x" * 1500 + b"\r\n.\r\n")
    assert client.reply1() == (552, b"Message size exceeds fixed maximum of 1000 bytes")
    assert client.command(b"NOOP") == OK


def test_a_line_too_long_is_answered_and_the_session_goes_on(server):
    client = ehloed(server)
    assert client.command(b"NOOP " + b"x" * 3000) == (500, b"Command too long")
    assert client.command(b"NOOP") == OK


def test_mode_replies_are_the_operators_whatever_the_personality(sinkhole):
    server = sinkhole("--mode", "bounce", "--personality", "badsmtp")
    client = ehloed(server)
    assert client.command(b"MAIL FROM:<a@example.com>") == OK
    assert client.command(b"RCPT TO:<b@example.com>") == (550, b"5.1.1 User unknown")


def test_shutdown_says_badsmtps_words(sinkhole):
    server = sinkhole("--mode", "accept", "--personality", "badsmtp")
    client = ehloed(server)
    server.terminate()
    assert client.reply1() == (421, b"Service shutting down")
    assert client.at_eof()
    assert server.wait(timeout=15) == 0


def test_smtplib_sends_through_the_badsmtp_personality(server):
    with smtplib.SMTP(server.host, server.port, timeout=15) as client:
        code, _ = client.ehlo("client.test")
        assert code == 250
        assert client.has_extn("size") and client.has_extn("pipelining")
        refused = client.sendmail("a@example.com", ["b@example.com", "rcpt550@example.com"],
                                  b"Subject: hi\r\n\r\nbody\r\n")
        assert refused == {"rcpt550@example.com": (550, b"Requested action not taken: mailbox unavailable")}
        assert client.noop() == OK


def test_a_listener_may_speak_badsmtp_beside_a_sinkhole_listener(sinkhole):
    server = sinkhole("--mode", "accept", "--listen", "127.0.0.1:0,personality=badsmtp,name=bad")
    plain, bad = [int(line["address"].rpartition(":")[2])
                  for line in server.logs(lambda e: e.get("event") == "listening")]
    client = RawClient("127.0.0.1", plain)
    assert client.reply() == (220, [f"{HOSTNAME} ESMTP sinkhole".encode()])
    assert client.command(b"NOOP") == (250, b"2.0.0 OK")
    client.close()
    client = RawClient("127.0.0.1", bad)
    assert client.reply() == (220, [GREETING])
    assert client.command(b"NOOP") == OK
    client.close()


def test_the_personality_comes_from_the_environment_too(sinkhole):
    server = sinkhole("--mode", "accept", env={"SINKHOLE_PERSONALITY": "BadSMTP"})
    client = greeted(server)
    assert client.command(b"NOOP") == OK


def test_an_unknown_personality_stops_the_start():
    result = run_sinkhole("--personality", "postfix", "--listen", "127.0.0.1:0")
    assert result.returncode == 2
    assert_one_line_error(result, "personality", "postfix", "sinkhole, badsmtp")
    result = run_sinkhole("--listen", "127.0.0.1:0,personality=james")
    assert_one_line_error(result, "personality needs one of sinkhole, badsmtp")
