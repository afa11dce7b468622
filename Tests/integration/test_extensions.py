"""The ESMTP extensions of issue 15: CHUNKING/BDAT and BINARYMIME (RFC 3030),
DSN (RFC 3461), SMTPUTF8 (RFC 6531) and 8BITMIME (RFC 6152) enforced, and
the verbs sinkhole does not offer (ETRN, EXPN, TURN).

No client library here speaks BDAT, so chunks go through a raw socket with
exact bytes; DSN parameters go through smtplib's own mail and rcpt options.
"""

from __future__ import annotations

import os
import textwrap

import requests

from conftest import CLIENT_NAME, HOSTNAME, QUEUE_ID

MAIL_OK = (250, b"2.1.0 OK")
RCPT_OK = (250, b"2.1.5 OK")
EHLO_TAIL = [b"ENHANCEDSTATUSCODES", b"SMTPUTF8", b"DSN", b"CHUNKING", b"BINARYMIME", b"XCLIENT NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT", b"XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"]


def session(server, *, ehlo: bytes = b"EHLO client.test"):
    client = server.raw()
    assert client.reply() == (220, [f"{HOSTNAME} ESMTP sinkhole".encode()])
    client.send(ehlo + b"\r\n")
    code, lines = client.reply()
    assert code == 250, lines
    return client, lines[1:]


def transaction(client, recipients=(b"rcpt@example.com",), mail=b"MAIL FROM:<sender@example.com>"):
    client.send(mail + b"\r\n" + b"".join(b"RCPT TO:<" + r + b">\r\n" for r in recipients))
    assert client.reply1() == MAIL_OK
    for _ in recipients:
        assert client.reply1() == RCPT_OK


def queued(reply) -> str:
    code, text = reply
    assert code == 250, reply
    match = QUEUE_ID.match(text)
    assert match, text
    return match.group(1).decode()


def mails(server) -> list[dict]:
    """Captured mail in James's shape: from, recipients (with parameters), mailParameters, message."""
    return requests.get(f"http://127.0.0.1:{server.http_port}/smtpMails", timeout=10).json()


def summaries(server) -> list[dict]:
    """Captured mail in Mailpit's summary shape: ID (the queue id), Size."""
    return requests.get(f"http://127.0.0.1:{server.http_port}/api/v1/messages", timeout=10).json()["messages"]


# -- EHLO -----------------------------------------------------------------


def test_ehlo_offers_dsn_chunking_and_binarymime_and_the_switches_withhold_them(sinkhole):
    server = sinkhole("--mode", "accept")
    client, keywords = session(server)
    assert keywords[-7:] == EHLO_TAIL
    client.close()

    server = sinkhole("--mode", "accept", "--no-dsn", "--no-chunking", "--no-xclient", "--no-xforward")
    client, keywords = session(server)
    assert b"DSN" not in keywords and b"CHUNKING" not in keywords and b"BINARYMIME" not in keywords
    assert keywords[-1] == b"SMTPUTF8"


# -- BDAT -----------------------------------------------------------------


def test_bdat_chunks_pipelined_with_a_zero_length_last_are_one_exact_message(sinkhole):
    server = sinkhole("--mode", "accept-log", "--capture", "memory")
    client, _ = session(server)
    transaction(client)
    first = b"Subject: chunked\r\n\r\nline one\r\n.\r\n"  # a dot line: no meaning inside a chunk
    second = b"no line end at all"
    client.send(b"BDAT %d\r\n" % len(first) + first + b"BDAT %d\r\n" % len(second) + second + b"BDAT 0 LAST\r\nQUIT\r\n")
    assert client.reply1() == (250, b"2.0.0 OK %d octets received" % len(first))
    assert client.reply1() == (250, b"2.0.0 OK %d octets received" % len(second))
    queue_id = queued(client.reply1())
    assert client.reply1() == (221, b"2.0.0 Bye")
    [mail] = mails(server)
    assert mail["message"] == (first + second).decode()
    [summary] = summaries(server)
    assert summary["ID"] == queue_id and summary["Size"] == len(first) + len(second)
    message = server.wait_for_log(lambda e: e.get("event") == "message")
    assert message["size"] == len(first) + len(second) and message["queue_id"] == queue_id


def test_a_chunk_split_across_writes_and_binary_octets_are_counted_exactly(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory")
    client, _ = session(server)
    transaction(client, mail=b"MAIL FROM:<sender@example.com> BODY=BINARYMIME")
    body = b"Subject: bin\r\n\r\n" + bytes(range(256)) + b"\r\n.\r\n"
    client.send(b"BDAT %d LAST\r\n" % len(body) + body[:10])
    client.send(body[10:100])
    client.send(body[100:] + b"NOOP\r\n")
    queued(client.reply1())
    assert client.reply1() == (250, b"2.0.0 OK")
    [summary] = summaries(server)
    assert summary["Size"] == len(body)
    [mail] = mails(server)
    assert [p["name"] + "=" + p["value"] for p in mail["mailParameters"]] == ["BODY=BINARYMIME"]


def test_bdat_out_of_sequence_reads_the_chunk_then_answers_503(sinkhole):
    server = sinkhole("--mode", "accept")
    client, _ = session(server)
    # Each chunk holds what would be commands: read as octets, dropped, never executed.
    chunk = b"QUIT\r\n"
    client.send(b"BDAT 6\r\n" + chunk)
    assert client.reply1() == (503, b"5.5.1 Need MAIL command")
    client.send(b"MAIL FROM:<a@example.com>\r\nBDAT 6 LAST\r\n" + chunk)
    assert client.reply1() == MAIL_OK
    assert client.reply1() == (503, b"5.5.1 Need RCPT command")
    client.send(b"RCPT TO:<b@example.com>\r\nBDAT 4\r\nabcdDATA\r\n")
    assert client.reply1() == RCPT_OK
    assert client.reply1() == (250, b"2.0.0 OK 4 octets received")
    assert client.reply1() == (503, b"5.5.1 DATA not allowed after BDAT")
    client.send(b"RSET\r\nNOOP\r\n")
    assert client.reply1() == (250, b"2.0.0 OK")
    assert client.reply1() == (250, b"2.0.0 OK")


def test_data_with_binarymime_is_refused(sinkhole):
    server = sinkhole("--mode", "accept")
    client, _ = session(server)
    transaction(client, mail=b"MAIL FROM:<a@example.com> BODY=BINARYMIME")
    assert client.command(b"DATA") == (503, b"5.5.1 BODY=BINARYMIME requires BDAT")


def test_a_chunk_over_the_size_limit_is_read_and_discarded_then_552(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory", "--max-message-size", "1000")
    client, _ = session(server)
    transaction(client)
    client.send(b"BDAT 600\r\n" + b"a" * 600)
    assert client.reply1() == (250, b"2.0.0 OK 600 octets received")
    client.send(b"BDAT 500 LAST\r\n" + b"b" * 500 + b"NOOP\r\n")
    assert client.reply1() == (552, b"5.3.4 Message size exceeds fixed limit")
    assert client.reply1() == (250, b"2.0.0 OK"), "the chunk's octets were not taken for commands"
    # The transaction is over: a further chunk has no MAIL.
    client.send(b"BDAT 1 LAST\r\nx")
    assert client.reply1() == (503, b"5.5.1 Need MAIL command")
    assert mails(server) == []


def test_malformed_bdat_sizes_get_501(sinkhole):
    server = sinkhole("--mode", "accept")
    client, _ = session(server)
    transaction(client)
    for line in [b"BDAT", b"BDAT -5", b"BDAT 5 FIRST", b"BDAT 0x10", b"BDAT 99999999999999999999", b"BDAT 5 LAST more"]:
        assert client.command(line) == (501, b"5.5.4 Syntax: BDAT chunk-size [LAST]"), line
    # The transaction survives them.
    client.send(b"BDAT 3 LAST\r\nabc")
    queued(client.reply1())


def test_a_huge_announced_chunk_is_refused_as_too_big_once_its_octets_stop(sinkhole):
    server = sinkhole("--mode", "accept", "--idle-timeout", "1s")
    client, _ = session(server)
    transaction(client)
    client.send(b"BDAT 999999999999999999 LAST\r\n" + b"x" * 1000)
    # sinkhole reads and drops what comes; the client stops sending; the idle timeout ends it.
    assert client.reply1() == (421, b"4.4.2 Idle timeout")
    assert client.at_eof()


def test_a_client_that_sends_fewer_octets_than_announced_meets_the_idle_timeout_and_nothing_is_kept(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory", "--idle-timeout", "1s")
    client, _ = session(server)
    transaction(client)
    client.send(b"BDAT 100 LAST\r\n" + b"y" * 40)
    assert client.reply1() == (421, b"4.4.2 Idle timeout")
    assert client.at_eof()
    line = server.wait_for_log(lambda e: e.get("event") == "connection")
    assert line["outcome"] == "idle_timeout" and line["messages"] == 0
    assert mails(server) == []


def test_withheld_chunking_answers_bdat_502_after_reading_the_chunk(sinkhole):
    server = sinkhole("--mode", "accept", "--no-chunking")
    client, _ = session(server)
    transaction(client)
    client.send(b"BDAT 6 LAST\r\nRSET\r\nNOOP\r\n")
    assert client.reply1() == (502, b"5.5.1 Command not implemented")
    assert client.reply1() == (250, b"2.0.0 OK")
    assert client.command(b"RSET") == (250, b"2.0.0 OK")
    assert client.command(b"MAIL FROM:<a@example.com> BODY=BINARYMIME") == (555, b"5.5.4 Unsupported parameter BODY=BINARYMIME")


def test_rules_answer_a_chunk_and_the_last_one(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: second-chunk
            command: BDAT
            condition: {field: argument, operator: equals, matchingValue: "7"}
            response: {code: 452, enhancedCode: 4.3.1, message: Chunk deferred}
          - id: slow-last
            command: BDAT
            condition: {field: argument, operator: equals, matchingValue: "3 LAST"}
            response: {delay: 200ms}
        """))
    server = sinkhole("--mode", "accept", "--capture", "memory", "--rules", str(rules))
    client, _ = session(server)
    transaction(client)
    client.send(b"BDAT 5\r\nabcdeBDAT 7\r\nfghijklNOOP\r\n")
    assert client.reply1() == (250, b"2.0.0 OK 5 octets received")
    assert client.reply1() == (452, b"4.3.1 Chunk deferred")
    assert client.reply1() == (250, b"2.0.0 OK")
    # The refused chunk failed the transaction: nothing of it is kept.
    client.send(b"BDAT 3 LAST\r\nxyz")
    assert client.reply1() == (503, b"5.5.1 Need MAIL command")
    transaction(client)
    client.send(b"BDAT 3 LAST\r\nxyz")
    queue_id = queued(client.reply1())
    [mail] = mails(server)
    assert mail["message"] == "xyz"
    assert [m["ID"] for m in summaries(server)] == [queue_id]
    client.send(b"QUIT\r\n")
    assert client.reply1() == (221, b"2.0.0 Bye")
    connection = server.wait_for_log(lambda e: e.get("event") == "connection")
    assert connection["messages"] == 1


def test_a_421_rule_on_bdat_closes_at_once(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {id: cut, command: BDAT, response: {code: 421, enhancedCode: 4.3.2, message: Going away}}\n")
    server = sinkhole("--mode", "accept", "--rules", str(rules))
    client, _ = session(server)
    transaction(client)
    client.send(b"BDAT 100 LAST\r\n")
    assert client.reply1() == (421, b"4.3.2 Going away")
    assert client.at_eof()


def test_badsmtp_data_trigger_fires_at_bdat_last(sinkhole):
    server = sinkhole("--mode", "accept")
    client, _ = session(server)
    client.send(b"MAIL FROM:<data554@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 3 LAST\r\nabcNOOP\r\n")
    assert client.reply1() == MAIL_OK
    assert client.reply1() == RCPT_OK
    # Answered once the chunk is in (BadSMTP leaves it unread, to be taken for commands).
    assert client.reply1()[0] == 554
    assert client.reply1() == (250, b"2.0.0 OK")


# -- DSN ------------------------------------------------------------------


def test_dsn_parameters_from_smtplib_are_taken_and_kept_with_captured_mail(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory")
    client = server.smtp()
    client.ehlo(CLIENT_NAME)
    assert client.has_extn("dsn")
    message = b"Subject: dsn\r\n\r\nx\r\n"
    client.sendmail("sender@example.com", ["one@example.com", "two@example.com"], message,
                    mail_options=["RET=HDRS", "ENVID=QQ314159"],
                    rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;one+2Bx@example.com"])
    client.quit()
    [mail] = mails(server)
    # smtplib puts SIZE first of its own accord.
    assert [(p["name"], p["value"]) for p in mail["mailParameters"]] == [
        ("SIZE", str(len(message))), ("RET", "HDRS"), ("ENVID", "QQ314159")]
    assert [[(p["name"], p["value"]) for p in r["parameters"]] for r in mail["recipients"]] == [
        [("NOTIFY", "SUCCESS,FAILURE"), ("ORCPT", "rfc822;one+2Bx@example.com")]] * 2


def test_bad_dsn_values_get_501_naming_the_parameter(sinkhole):
    server = sinkhole("--mode", "accept")
    client, _ = session(server)
    for line, name in [
        (b"MAIL FROM:<a@example.com> RET=ALL", b"RET"),
        (b"MAIL FROM:<a@example.com> ENVID=a=b", b"ENVID"),
        (b"MAIL FROM:<a@example.com> ENVID=" + b"x" * 101, b"ENVID"),
    ]:
        assert client.command(line) == (501, b"5.5.4 Bad value for parameter " + name), line
    assert client.command(b"MAIL FROM:<a@example.com> RET=FULL") == MAIL_OK
    for line, name in [
        (b"RCPT TO:<b@example.com> NOTIFY=NEVER,FAILURE", b"NOTIFY"),
        (b"RCPT TO:<b@example.com> NOTIFY=SOMETIMES", b"NOTIFY"),
        (b"RCPT TO:<b@example.com> ORCPT=b@example.com", b"ORCPT"),
    ]:
        assert client.command(line) == (501, b"5.5.4 Bad value for parameter " + name), line
    assert client.command(b"RCPT TO:<b@example.com> RET=FULL") == (555, b"5.5.4 Unsupported parameter RET")
    assert client.command(b"RCPT TO:<b@example.com> X-UNKNOWN=1") == (555, b"5.5.4 Unsupported parameter X-UNKNOWN")
    assert client.command(b"RCPT TO:<b@example.com> NOTIFY=DELAY") == RCPT_OK


def test_no_dsn_refuses_the_parameters_with_555(sinkhole):
    server = sinkhole("--mode", "accept", "--no-dsn")
    client, _ = session(server)
    assert client.command(b"MAIL FROM:<a@example.com> RET=HDRS") == (555, b"5.5.4 Unsupported parameter RET")
    assert client.command(b"MAIL FROM:<a@example.com>") == MAIL_OK
    assert client.command(b"RCPT TO:<b@example.com> NOTIFY=NEVER") == (555, b"5.5.4 Unsupported parameter NOTIFY")


def test_a_rule_matches_a_parameter(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: no-success-notices
            command: RCPT
            condition: {field: "parameter:NOTIFY", operator: contains, matchingValue: SUCCESS}
            response: {code: 550, enhancedCode: 5.7.1, message: No success notices here}
        """))
    server = sinkhole("--mode", "accept", "--rules", str(rules))
    client, _ = session(server)
    transaction(client)
    assert client.command(b"RCPT TO:<x@example.com> NOTIFY=SUCCESS") == (550, b"5.7.1 No success notices here")
    assert client.command(b"RCPT TO:<x@example.com> NOTIFY=FAILURE") == RCPT_OK


# -- SMTPUTF8 and 8BITMIME ------------------------------------------------


def test_a_utf8_address_needs_smtputf8_on_mail(sinkhole):
    server = sinkhole("--mode", "accept")
    client, _ = session(server)
    utf8 = "ünï@exämple.com".encode()
    undeclared = (553, b"5.6.7 Must declare SMTPUTF8 to send a UTF-8 address")
    assert client.command(b"MAIL FROM:<" + utf8 + b">") == undeclared
    assert client.command(b"MAIL FROM:<a@example.com>") == MAIL_OK
    assert client.command(b"RCPT TO:<" + utf8 + b">") == undeclared
    assert client.command(b"RSET")[0] == 250
    assert client.command(b"MAIL FROM:<" + utf8 + b"> SMTPUTF8") == MAIL_OK
    assert client.command(b"RCPT TO:<" + utf8 + b">") == RCPT_OK


def test_smtplib_sends_a_utf8_message_with_smtputf8(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory")
    client = server.smtp()
    client.ehlo(CLIENT_NAME)
    client.sendmail("ünï@exämple.com", ["zoë@example.com"], "Subject: ünï\r\n\r\nx\r\n".encode(),
                    mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    client.quit()
    [mail] = mails(server)
    assert mail["from"] == "ünï@exämple.com" and [r["address"] for r in mail["recipients"]] == ["zoë@example.com"]


def test_withheld_keywords_refuse_their_parameters(sinkhole):
    server = sinkhole("--mode", "accept", "--no-8bitmime", "--no-smtputf8")
    client, _ = session(server)
    assert client.command(b"MAIL FROM:<a@example.com> BODY=8BITMIME") == (555, b"5.5.4 Unsupported parameter BODY=8BITMIME")
    assert client.command(b"MAIL FROM:<a@example.com> SMTPUTF8") == (555, b"5.5.4 Unsupported parameter SMTPUTF8")
    assert client.command(b"MAIL FROM:<a@example.com> BODY=7BIT") == MAIL_OK


# -- verbs not offered ----------------------------------------------------


def test_etrn_expn_and_turn_get_502_or_what_a_rule_says(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: etrn
            command: UNKNOWN
            condition: {field: argument, operator: equals, matchingValue: ETRN}
            response: {code: 458, enhancedCode: 4.7.0, message: Unable to queue messages}
        """))
    server = sinkhole("--mode", "accept")
    client, _ = session(server)
    for line in [b"ETRN example.com", b"EXPN list", b"TURN"]:
        assert client.command(line) == (502, b"5.5.1 Command not implemented"), line
    server = sinkhole("--mode", "accept", "--rules", str(rules))
    client, _ = session(server)
    assert client.command(b"ETRN example.com") == (458, b"4.7.0 Unable to queue messages")
    assert client.command(b"TURN") == (502, b"5.5.1 Command not implemented")


# -- XCLIENT and XFORWARD (Postfix's) -------------------------------------

XCLIENT_LINE = b"XCLIENT NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT"
XFORWARD_LINE = b"XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"


def test_xclient_is_offered_to_loopback_only_by_default_and_refused_elsewhere(sinkhole):
    server = sinkhole("--mode", "accept")
    client, keywords = session(server)
    assert keywords[-2:] == [XCLIENT_LINE, XFORWARD_LINE]
    server = sinkhole("--mode", "accept", "--xclient-from", "10.0.0.0/8,192.0.2.1")
    client, keywords = session(server)
    assert XCLIENT_LINE not in keywords and XFORWARD_LINE not in keywords
    assert client.command(b"XCLIENT ADDR=192.0.2.9") == (550, b"5.7.0 Insufficient authorization")
    assert client.command(b"XFORWARD ADDR=192.0.2.9") == (550, b"5.7.0 Insufficient authorization")
    server = sinkhole("--mode", "accept", "--no-xclient", "--no-xforward")
    client, keywords = session(server)
    assert client.command(b"XCLIENT ADDR=192.0.2.9") == (502, b"5.5.1 Command not implemented")
    assert client.command(b"XFORWARD ADDR=192.0.2.9") == (502, b"5.5.1 Command not implemented")


def test_xclient_greets_again_and_the_policy_sees_the_named_client(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: block-net
            command: MAIL
            condition: {field: client_ip, operator: cidr, matchingValue: 198.51.100.0/24}
            response: {code: 550, enhancedCode: 5.7.1, message: Blocked network}
        """))
    server = sinkhole("--mode", "greylist", "--greylist-reply", "451 4.7.1 Greylisted", "--rules", str(rules),
                      "--capture", "memory")

    def attempt(address: bytes) -> tuple[int, bytes]:
        client, _ = session(server)
        assert client.command(b"XCLIENT ADDR=" + address + b" NAME=mx.example.net HELO=mx.example.net PROTO=ESMTP") \
            == (220, f"{HOSTNAME} ESMTP sinkhole".encode())
        assert client.command(b"MAIL FROM:<a@example.com>") == (503, b"5.5.1 Send HELO/EHLO first"), "greeted again"
        client.send(b"EHLO mx.example.net\r\n")
        assert client.reply()[0] == 250
        mail = client.command(b"MAIL FROM:<a@example.com>")
        if mail != MAIL_OK:
            return mail
        reply = client.command(b"RCPT TO:<b@example.com>")
        if reply == RCPT_OK:
            assert client.command(b"DATA")[0] == 354
            client.send(b"Subject: via xclient\r\n\r\nx\r\n.\r\n")
            queued(client.reply1())
        client.command(b"QUIT")
        return reply

    assert attempt(b"192.0.2.1") == (451, b"4.7.1 Greylisted")
    assert attempt(b"192.0.2.1") == RCPT_OK, "the same named client's retry passes"
    assert attempt(b"IPV6:2001:db8::5") == (451, b"4.7.1 Greylisted"), "another named client is new"
    assert attempt(b"198.51.100.7") == (550, b"5.7.1 Blocked network")
    [summary] = summaries(server)
    detail = requests.get(f"http://127.0.0.1:{server.http_port}/api/v1/message/{summary['ID']}", timeout=10).json()
    assert detail["SMTP"]["ClientIP"] == "192.0.2.1"
    line = server.wait_for_log(lambda e: e.get("event") == "connection" and e.get("proxied_client") == "192.0.2.1"
                               and e.get("messages") == 1)
    assert line["client"].startswith("127.0.0.1:")


def test_xclient_and_xforward_bad_input(sinkhole):
    server = sinkhole("--mode", "accept")
    client, _ = session(server)
    for line, reply in [
        (b"XCLIENT", b"5.5.4 Syntax: XCLIENT attribute=value ..."),
        (b"XCLIENT ADDR", b"5.5.4 Syntax: XCLIENT attribute=value ..."),
        (b"XCLIENT FOO=1", b"5.5.4 Bad XCLIENT attribute name FOO"),
        (b"XCLIENT IDENT=1", b"5.5.4 Bad XCLIENT attribute name IDENT"),
        (b"XCLIENT ADDR=999.1.1.1", b"5.5.4 Bad XCLIENT ADDR value"),
        (b"XCLIENT PORT=70000", b"5.5.4 Bad XCLIENT PORT value"),
        (b"XCLIENT PROTO=HTTP", b"5.5.4 Bad XCLIENT PROTO value"),
        (b"XCLIENT NAME=a+0Ab", b"5.5.4 Bad XCLIENT NAME value"),
        (b"XFORWARD LOGIN=x", b"5.5.4 Bad XFORWARD attribute name LOGIN"),
    ]:
        assert client.command(line) == (501, reply), line
    transaction(client)
    assert client.command(b"XCLIENT ADDR=192.0.2.1") == (503, b"5.5.1 MAIL transaction in progress")
    assert client.command(b"XFORWARD ADDR=192.0.2.1") == (503, b"5.5.1 MAIL transaction in progress")
    assert client.command(b"RSET")[0] == 250
    # Unknown values, and xtext.
    assert client.command(b"XFORWARD NAME=[UNAVAILABLE] ADDR=[TEMPUNAVAIL] HELO=a+2Bb SOURCE=REMOTE") == (250, b"2.0.0 OK")


def test_postfix_sends_xforward_and_sinkhole_takes_it(sinkhole, tmp_path):
    """A private Postfix with smtp_send_xforward_command: its XFORWARD lines are answered 250 and journalled."""
    from postfix_harness import PostfixInstance, find_postfix, make_message, new_instance_root
    import shutil as _shutil
    server = sinkhole("--mode", "accept", "--capture", "memory")
    root = new_instance_root()
    mta = PostfixInstance(find_postfix(), root, server.port, "smtp_send_xforward_command = yes\n")
    try:
        mta.start()
        message_id, message = mta_message = make_message("xforward")
        mta.sendmail(message)
        mta.queue_id_of(message_id)
        mta.wait_for_empty_queue(timeout=20)
        line = server.wait_for_log(lambda e: e.get("event") == "connection" and e.get("messages") == 1, timeout=20)
        sessions = requests.get(f"http://127.0.0.1:{server.http_port}/api/v1/sessions", timeout=10).json()["sessions"]
        detail = requests.get(f"http://127.0.0.1:{server.http_port}/api/v1/sessions/{sessions[-1]['id']}", timeout=10).json()
        lines = [(e["kind"], e["text"]) for e in detail["transcript"]]
        forwards = [i for i, (kind, text) in enumerate(lines) if kind == "client" and text.startswith("XFORWARD ")]
        assert forwards, lines
        if os.environ.get("SINKHOLE_SHOW_XFORWARD"):
            print([lines[i][1] for i in forwards])
        for index in forwards:
            assert lines[index + 1] == ("server", "250 2.0.0 OK"), lines[index:index + 2]
        assert any("SOURCE=" in lines[i][1] or "IDENT=" in lines[i][1] for i in forwards), lines
        assert line["outcome"] == "quit"
        assert mta.problems() == []
    finally:
        mta.stop()
        _shutil.rmtree(root, ignore_errors=True)
