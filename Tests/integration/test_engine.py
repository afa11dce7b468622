"""The decision engine over the wire: rules from the config file and --rules,
James's behaviour JSON verbatim, actions (reply, close, disconnect, reset,
hang, delay, dribble), counting, and bad rules refused at start."""

from __future__ import annotations

import json
import smtplib
import socket
import threading
import time

import pytest

from conftest import HOSTNAME, assert_one_line_error, raw_session, run_sinkhole, send_while_draining

MAIL_OK = (250, b"2.1.0 OK")
RCPT_OK = (250, b"2.1.5 OK")


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def start_with_rules(sinkhole, tmp_path, rules_yaml: str, *args: str):
    return sinkhole("--mode", "accept", "--rules", write(tmp_path, "rules.yaml", rules_yaml), *args)


def smtp_session(server):
    client = server.smtp()
    client.ehlo()
    return client


# -- James's behaviour JSON --------------------------------------------------

JAMES_ARTICLE_BEHAVIOR = """{
"command": "MAIL FROM",
"condition": {
"operator": "contains",
"matchingValue": "frodo"
},
"response": {
"code": 250,
"message": "OK"
},
"numberOfAnswer": 7
}"""

JAMES_FIXTURE = """[{"response":{"code":250,"message":"OK"},
  "condition":{"operator":"contains","matchingValue":"matchme"},
  "command":"EHLO","numberOfAnswer":7},
 {"condition":{"operator":"matchAll"},
  "response":{"code":250,"message":"OK"},
  "command":"EHLO"}]"""


def test_the_james_article_behavior_from_a_rules_file_answers_frodo_seven_times(sinkhole, tmp_path):
    server = sinkhole("--mode", "accept", "--rules", write(tmp_path, "james.json", JAMES_ARTICLE_BEHAVIOR))
    client = smtp_session(server)
    for attempt in range(7):
        # James's behaviour answers "250 OK" in place of the normal reply: the sender is not recorded.
        assert client.mail("frodo@shire.example") == (250, b"OK"), attempt
        assert client.rcpt("sam@shire.example") == (503, b"5.5.1 Need MAIL command")
    assert client.mail("frodo@shire.example") == MAIL_OK, "the eighth attempt is past numberOfAnswer"
    assert client.mail("bilbo@shire.example") == (503, b"5.5.1 Nested MAIL command")
    client.quit()
    line = server.wait_for_log(lambda e: e["event"] == "connection")
    assert (line["decided_by"], line["rule"], line["decided_at"]) == ("rule", "rule-1", "MAIL")


def test_james_json_pasted_under_rules_in_the_config_file(sinkhole, tmp_path):
    config = write(tmp_path, "sinkhole.json", json.dumps({
        "mode": "accept",
        "rules": [
            {"command": "RCPT TO", "condition": {"operator": "contains", "matchingValue": "@cat.construction"},
             "response": {"code": 501, "message": "5.1.3 Bad recipient address syntax"}, "numberOfAnswer": 3},
        ],
    }))
    server = sinkhole("--config", config)
    client = smtp_session(server)
    client.mail("sender@example.com")
    for _ in range(3):
        assert client.rcpt("tom@cat.construction") == (501, b"5.1.3 Bad recipient address syntax")
    assert client.rcpt("tom@cat.construction") == RCPT_OK
    client.quit()


def test_james_behaviors_section_answers_data_after_the_message_as_james_does(sinkhole, tmp_path):
    config = write(tmp_path, "sinkhole.yaml", f"mode: accept\njames-behaviors: {JAMES_FIXTURE.replace(chr(10), ' ')}\n"
                   'rules: []\n')
    # The fixture's behaviours are EHLO ones: a 250 OK in place of the EHLO reply.
    server = sinkhole("--config", config)
    raw = server.raw()
    raw.reply()
    assert raw.command(b"EHLO matchme.example") == (250, b"OK")
    raw.close()
    config = write(tmp_path, "data.yaml", 'mode: accept\njames-behaviors:\n  - {"command": "DATA", "condition": {"operator": "matchAll"},'
                   ' "response": {"code": 552, "message": "5.3.4 Too big for James"}}\n')
    server = sinkhole("--config", config)
    client = smtp_session(server)
    client.mail("a@example.com")
    client.rcpt("b@example.com")
    # James's DATA behaviour: the 354 comes, the refusal follows the final dot.
    assert client.data(b"Subject: x\r\n\r\nbody\r\n") == (552, b"5.3.4 Too big for James")
    client.quit()


# -- counting, sequences, keys -----------------------------------------------

def test_fail_twice_then_pass_per_recipient(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- id: retry-twice
  command: RCPT
  condition: {operator: suffix, field: recipient, matchingValue: "@flaky.example"}
  responses: [451, 451, pass]
  count_per: recipient
""")
    replies = {"a@flaky.example": [], "b@flaky.example": []}
    for _ in range(3):
        for address in replies:
            client = smtp_session(server)
            client.mail("sender@example.com")
            replies[address].append(client.rcpt(address))
            client.quit()
    deferred = (451, b"Requested action aborted: local error in processing")
    assert replies["a@flaky.example"] == [deferred, deferred, RCPT_OK]
    assert replies["b@flaky.example"] == [deferred, deferred, RCPT_OK]


def test_fifty_sessions_racing_for_five_answers_get_exactly_five(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- id: five
  command: RCPT
  response: {code: 452, enhancedCode: 4.3.1, message: Five only}
  numberOfAnswer: 5
""")
    results = []
    lock = threading.Lock()
    start = threading.Barrier(50, timeout=30)

    def attempt(index: int) -> None:
        client = smtp_session(server)
        client.mail("sender@example.com")
        start.wait()
        reply = client.rcpt(f"r{index}@example.com")
        client.quit()
        with lock:
            results.append(reply)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a session never finished"
    assert results.count((452, b"4.3.1 Five only")) == 5
    assert results.count(RCPT_OK) == 45


# -- actions ------------------------------------------------------------------

def test_disconnect_right_after_the_250_to_the_final_dot(sinkhole, tmp_path):
    """The duplicate-delivery test: the message is accepted, then the connection drops before QUIT."""
    server = start_with_rules(sinkhole, tmp_path, """
- command: "."
  response: {code: 250, enhancedCode: 2.0.0, message: Accepted then gone, action: reply_and_close}
""")
    client = raw_session(server)
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    assert client.reply1() == MAIL_OK
    assert client.reply1() == RCPT_OK
    assert client.reply1()[0] == 354
    client.send(b"Subject: once\r\n\r\nbody\r\n.\r\n")
    assert client.reply1() == (250, b"2.0.0 Accepted then gone")
    assert client.at_eof()


def test_a_421_in_the_middle_of_data(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- id: cut-off
  command: CONTENT
  bytes: 4K
  response: {code: 421, enhancedCode: 4.4.2, message: Cut off mid-message}
""")
    client = raw_session(server)
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: long\r\n\r\n" + b"x" * 78 + b"\r\n")
    client.send(b"y" * 78 + b"\r\n" * 1 + (b"z" * 78 + b"\r\n") * 60)
    assert client.reply1() == (421, b"4.4.2 Cut off mid-message")
    assert client.at_eof()
    line = server.wait_for_log(lambda e: e["event"] == "connection")
    assert (line["decided_at"], line["rule"], line["messages"]) == ("CONTENT", "cut-off", 0)


def test_disconnect_without_a_reply_and_reset(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- command: MAIL
  condition: {operator: prefix, matchingValue: fin}
  response: {action: disconnect}
- command: MAIL
  condition: {operator: prefix, matchingValue: rst}
  response: {action: reset}
""")
    client = raw_session(server)
    client.send(b"MAIL FROM:<fin@example.com>\r\n")
    assert client.at_eof(), "a FIN, no reply"
    client = raw_session(server)
    client.send(b"MAIL FROM:<rst@example.com>\r\n")
    with pytest.raises(ConnectionResetError):
        while client.sock.recv(4096):
            pass
    outcomes = {e["outcome"] for e in server.wait_for_logs(lambda e: e["event"] == "connection", 2)}
    assert outcomes == {"disconnected", "reset"}


def test_hang_answers_nothing_until_the_session_limit(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- command: NOOP
  response: {action: hang}
""", "--session-time-limit", "2s")
    client = raw_session(server)
    started = time.monotonic()
    client.send(b"NOOP\r\nNOOP\r\nQUIT\r\n")
    assert client.reply1() == (421, b"4.4.2 Session time limit exceeded")
    assert time.monotonic() - started > 1.0
    assert client.at_eof()


def test_a_delayed_reply_keeps_pipelined_replies_in_order(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- command: RCPT
  condition: {operator: prefix, matchingValue: slow}
  response: {code: 250, message: Slow but sure, delay: 1s}
""")
    client = raw_session(server)
    started = time.monotonic()
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<slow@example.com>\r\nRCPT TO:<fast@example.com>\r\nNOOP\r\n")
    assert client.reply1() == MAIL_OK
    assert client.reply1() == (250, b"Slow but sure")
    assert time.monotonic() - started >= 0.9
    assert client.reply1() == RCPT_OK
    assert client.reply1() == (250, b"2.0.0 OK")
    assert client.command(b"QUIT") == (221, b"2.0.0 Bye")


def test_a_dribbled_reply_arrives_a_few_bytes_at_a_time(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- command: NOOP
  response: {code: 250, message: "dribbled out slowly", dribble: 20}
""")
    client = raw_session(server)
    client.sock.sendall(b"NOOP\r\n")
    started = time.monotonic()
    chunks = []
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = client.sock.recv(100)
        assert chunk, "closed early"
        chunks.append(chunk)
        data += chunk
    assert data == b"250 dribbled out slowly\r\n"
    assert time.monotonic() - started >= 0.9, "25 bytes at 20 bytes a second"
    assert len(chunks) >= 5
    assert client.command(b"QUIT") == (221, b"2.0.0 Bye")


def test_mailbox_full_for_one_address_only_and_metrics(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- id: mailbox-full
  command: RCPT
  condition: {operator: equals, field: recipient, matchingValue: full@example.com, ignoreCase: true}
  response: {code: 552, enhancedCode: 5.2.2, lines: [Mailbox full, Try another address]}
""")
    client = smtp_session(server)
    client.mail("a@example.com")
    assert client.rcpt("FULL@example.com") == (552, b"5.2.2 Mailbox full\n5.2.2 Try another address")
    assert client.rcpt("other@example.com") == RCPT_OK
    client.quit()
    server.wait_for_log(lambda e: e["event"] == "connection")
    metrics = server.metrics()
    assert metrics['sinkhole_rule_matches_total{rule="mailbox-full"}'] == 1
    assert metrics['sinkhole_decisions_total{layer="rule",command="RCPT",action="reply"}'] == 1


def test_rules_by_client_network_and_by_header(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- command: MAIL
  condition: {operator: cidr, field: client_ip, matchingValue: 127.0.0.2/32}
  response: {code: 421, message: Not from that network}
- command: "."
  condition: {operator: contains, field: "header:Subject", matchingValue: "[spam]"}
  response: {code: 554, enhancedCode: 5.7.1, message: No spam here}
""")
    other = server.raw(source_ip="127.0.0.2")
    other.reply()
    other.send(b"EHLO client.test\r\n")
    assert other.reply()[0] == 250
    assert other.command(b"MAIL FROM:<a@example.com>") == (421, b"Not from that network")
    assert other.at_eof()
    client = smtp_session(server)
    client.mail("a@example.com")
    client.rcpt("b@example.com")
    assert client.data(b"Subject: [spam] buy now\r\n\r\nbody\r\n") == (554, b"5.7.1 No spam here")
    client.mail("a@example.com")
    client.rcpt("b@example.com")
    assert client.data(b"Subject: hello\r\n\r\n[spam] only in the body\r\n")[0] == 250
    client.quit()


def test_a_seeded_probability_replays_identically(sinkhole, tmp_path):
    rules = """
- command: RCPT
  response: {code: 451, message: Sometimes}
  probability: 40
  seed: 7
"""

    def run() -> list[int]:
        server = start_with_rules(sinkhole, tmp_path, rules)
        client = smtp_session(server)
        client.mail("a@example.com")
        codes = [client.rcpt(f"r{i}@example.com")[0] for i in range(40)]
        client.quit()
        server.stop()
        return codes

    first = run()
    assert first == run()
    assert 5 < first.count(451) < 30, first


# -- bad rules ------------------------------------------------------------------

@pytest.mark.parametrize("rules, fragments", [
    ("- {command: RCPT}\n", ["rule #1: response: is required"]),
    ("- {id: x, command: SEND, response: {code: 550}}\n", ["rule x: command: unknown command \"SEND\""]),
    ("- {id: x, command: RCPT, response: {code: 354}}\n", ["rule x: response.code: 354 is DATA's go-ahead"]),
    ("- {id: x, command: RCPT, condition: {operator: regex, matchingValue: '(['}, response: {code: 550}}\n",
     ["rule x: condition.matchingValue: the regex \"([\" does not compile"]),
    ("- {id: x, command: RCPT, response: {code: 550}, numberOfAnswer: -1}\n", ["rule x: numberOfAnswer"]),
    ("- {id: x, command: RCPT, response: {code: 550}}\n- {id: x, command: MAIL, response: {code: 550}}\n",
     ["rule x: id: another rule has this id"]),
    ("rules: [unclosed\n", ["is not valid YAML or JSON"]),
])
def test_a_bad_rule_stops_the_start_with_one_line_and_exit_code_2(tmp_path, rules, fragments):
    result = run_sinkhole("--listen", "127.0.0.1:0", "--http-listen", "none", "--rules", write(tmp_path, "bad.yaml", rules))
    assert result.returncode == 2
    assert_one_line_error(result, *fragments)


@pytest.mark.parametrize("args, fragments", [
    (["--hard-reject", "MAIL,SEND"], ["--hard-reject", "unknown command \"SEND\""]),
    (["--delay", "RCPT"], ["--delay", "COMMAND:SECONDS"]),
    (["--delay", "RCPT:1:100"], ["ODDS is a whole number from 1 to 99"]),
    (["--hard-reply", "450 4.3.0 Nope"], ["hard-reply: must be a 5xx"]),
    (["--soft-reply", "550 Nope"], ["soft-reply: must be a 4xx"]),
    (["--listen", "127.0.0.1:0,greeting-delay=soon"], ["greeting-delay needs a duration"]),
    (["--listen", "127.0.0.1:0,colour=red"], ["unknown listener option \"colour\""]),
    (["--listen", "127.0.0.1:0,mode=sideways"], ["mode needs one of"]),
    (["--greylist-preset", "grey"], ["expected one of postgrey, sqlgrey, milter-greylist"]),
    (["--greylist-key", "planet"], ["expected ip, net or triplet"]),
    (["--greylist-answer", "later"], ["expected rcpt or close"]),
    (["--client-triggers", "maybe"], ["expected on or off"]),
    (["--greylist-delay", "2h", "--greylist-retry-window", "1h"], ["greylist-delay: must be shorter"]),
])
def test_bad_engine_flags_stop_the_start_with_one_line(args, fragments):
    result = run_sinkhole("--http-listen", "none", *(args if args[0] == "--listen" else ["--listen", "127.0.0.1:0", *args]))
    assert result.returncode == 2, result
    assert_one_line_error(result, *fragments)


def test_a_rules_354_starts_the_message_and_its_221_closes(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- {command: DATA, response: {code: 354, message: Go ahead}}
- {command: QUIT, response: {code: 221, enhancedCode: 2.0.0, message: See you}}
""")
    client = raw_session(server)
    client.command(b"MAIL FROM:<a@example.com>")
    client.command(b"RCPT TO:<b@example.com>")
    assert client.command(b"DATA") == (354, b"Go ahead")
    client.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert client.reply1()[0] == 250
    assert client.command(b"QUIT") == (221, b"2.0.0 See you")
    assert client.at_eof()


def test_a_content_reply_refuses_the_message_and_closes(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- {command: CONTENT, bytes: 2K, response: {code: 552, enhancedCode: 5.3.4, message: Too much}}
""")
    client = raw_session(server)
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]
    received = send_while_draining(client.sock, b"Subject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 100 + b".\r\nQUIT\r\n", timeout=30)
    assert received == b"552 5.3.4 Too much\r\n"


def test_policy_refusals_are_not_client_errors(sinkhole):
    """--max-errors counts the client's mistakes, not the 500s sinkhole was told to give."""
    server = sinkhole("--mode", "accept", "--hard-reject", "RCPT", "--max-errors", "3")
    client = server.raw()
    client.reply()
    client.send(b"EHLO client.test\r\n")
    code, lines = client.reply()
    assert code == 250 and b"PIPELINING" not in lines, "smtp-sink's -f withdraws PIPELINING"
    client.command(b"MAIL FROM:<a@example.com>")
    for _ in range(6):
        assert client.command(b"RCPT TO:<b@example.com>") == (500, b"5.3.0 Error: command failed")
    assert client.command(b"QUIT") == (221, b"2.0.0 Bye")


def test_reply_and_close_after_a_250_counts_the_message_as_accepted(sinkhole, tmp_path):
    server = start_with_rules(sinkhole, tmp_path, """
- {command: ".", response: {code: 250, message: Taken, action: reply_and_close}}
""")
    client = raw_session(server)
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: x\r\n\r\n.\r\n")
    assert client.reply1() == (250, b"Taken")
    assert client.at_eof()
    line = server.wait_for_log(lambda e: e["event"] == "connection")
    assert (line["messages"], line["outcome"]) == (1, "refused")
    assert server.metrics()['sinkhole_messages_total{outcome="accepted"}'] == 1


def test_accept_one_address_under_bounce(sinkhole, tmp_path):
    server = sinkhole("--mode", "bounce", "--rules", write(tmp_path, "r.yaml", """
- {command: RCPT, condition: {operator: equals, field: recipient, matchingValue: vip@example.com}, response: {action: accept}}
"""))
    client = smtp_session(server)
    client.mail("a@example.com")
    assert client.rcpt("other@example.com") == (550, b"5.1.1 User unknown")
    assert client.rcpt("vip@example.com") == RCPT_OK
    code, _ = client.data(b"Subject: x\r\n\r\nbody\r\n")
    assert code == 250
    client.quit()


def test_rules_can_come_from_a_pipe(tmp_path):
    """`--rules <(generate-rules)`: a pipe is read as a stream (here the rules are bad, so sinkhole says what it read)."""
    import os
    import subprocess

    from conftest import binary_path, clean_environment

    read_end, write_end = os.pipe()
    os.write(write_end, b"- {id: piped, command: RCPT, response: {code: 999}}\n")
    os.close(write_end)
    try:
        result = subprocess.run(
            [str(binary_path()), "--listen", "127.0.0.1:0", "--http-listen", "none", "--rules", f"/dev/fd/{read_end}"],
            env=clean_environment(), stdin=subprocess.DEVNULL, capture_output=True, timeout=20, pass_fds=(read_end,),
        )
    finally:
        os.close(read_end)
    assert_one_line_error(result, f"/dev/fd/{read_end}: rule piped: response.code: expected a reply code from 200 to 599")
