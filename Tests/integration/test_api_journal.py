"""The session journal and verification: GET /api/v1/sessions,
/api/v1/sessions/{id}, POST /api/v1/verify with hits and near misses."""

from __future__ import annotations

import textwrap

import requests

from conftest import HOSTNAME


def api(server, path: str) -> str:
    return f"http://127.0.0.1:{server.http_port}{path}"


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def session_done(server, client) -> dict:
    """The connection log line of `client`'s session: the journal has it once that is written."""
    port = client.client_port
    client.close()
    return server.connection_log(port)


def sessions(server, **params) -> list[dict]:
    response = requests.get(api(server, "/api/v1/sessions"), params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["sessions"]


def verify(server, expectation: dict) -> tuple[int, dict]:
    response = requests.post(api(server, "/api/v1/verify"), json=expectation, timeout=10)
    return response.status_code, response.json()


def deliver(server, recipient: str, body: bytes = b"Subject: x\r\n\r\nbody\r\n") -> tuple[int, bytes]:
    client = server.raw()
    assert client.reply()[0] == 220
    client.send(b"EHLO client.test\r\n")
    assert client.reply()[0] == 250
    assert client.command(b"MAIL FROM:<alice@example.com>") == (250, b"2.1.0 OK")
    reply = client.command(f"RCPT TO:<{recipient}>".encode())
    if reply[0] == 250:
        assert client.command(b"DATA")[0] == 354
        client.send(body + b".\r\n")
        assert client.reply1()[0] == 250
    assert client.command(b"QUIT")[0] == 221
    session_done(server, client)
    return reply


def test_a_transcript_holds_commands_replies_and_decisions_but_no_content(sinkhole, tmp_path):
    config = write(tmp_path, "rules.yaml", """\
        rules:
          - id: no-carol
            command: RCPT
            condition: {operator: contains, matchingValue: carol@}
            response: {code: 550, enhancedCode: 5.1.1, message: No carol}
        """)
    server = sinkhole("--mode", "accept", "--rules", config)
    client = server.raw()
    assert client.reply()[0] == 220
    client.send(b"EHLO client.test\r\n")
    assert client.reply()[0] == 250
    assert client.command(b"MAIL FROM:<alice@example.com>") == (250, b"2.1.0 OK")
    assert client.command(b"RCPT TO:<carol@example.com>") == (550, b"5.1.1 No carol")
    assert client.command(b"RCPT TO:<bob@example.com>") == (250, b"2.1.5 OK")
    assert client.command(b"DATA")[0] == 354
    client.send(b"Subject: secret\r\n\r\nSECRET-BODY-TEXT\r\n.\r\n")
    assert client.reply1()[0] == 250
    assert client.command(b"QUIT") == (221, b"2.0.0 Bye")
    session_done(server, client)

    [summary] = sessions(server)
    assert summary["outcome"] == "quit" and summary["helo"] == "client.test" and summary["mode"] == "accept"
    assert summary["senders"] == ["alice@example.com"]
    assert summary["recipients"] == ["carol@example.com", "bob@example.com"]
    assert summary["client"] == f"127.0.0.1:{client.client_port}"
    detail = requests.get(api(server, f"/api/v1/sessions/{summary['id']}"), timeout=10).json()
    lines = [(entry["kind"], entry["text"]) for entry in detail["transcript"]]
    assert lines[0] == ("server", f"220 {HOSTNAME} ESMTP sinkhole")
    assert ("client", "RCPT TO:<carol@example.com>") in lines
    at = lines.index(("client", "RCPT TO:<carol@example.com>"))
    assert lines[at + 1] == ("server", "550 5.1.1 No carol")
    assert lines[at + 2] == ("decision", "rule no-carol")
    assert any(kind == "note" and text.startswith("message ") for kind, text in lines)
    assert lines[-1] == ("server", "221 2.0.0 Bye")
    assert "SECRET-BODY-TEXT" not in str(detail), "message content is never journalled"
    assert all(entry["at_ms"] >= 0 for entry in detail["transcript"])


def test_sessions_are_filtered_by_sender_recipient_outcome_and_time(sinkhole):
    server = sinkhole("--mode", "accept")
    deliver(server, "bob@example.com")
    deliver(server, "carol@example.com")
    assert [s["recipients"] for s in sessions(server)] == [["carol@example.com"], ["bob@example.com"]]
    assert [s["recipients"] for s in sessions(server, recipient="BOB@")] == [["bob@example.com"]]
    assert len(sessions(server, sender="alice@")) == 2
    assert sessions(server, sender="nobody@") == []
    assert len(sessions(server, outcome="quit")) == 2 and sessions(server, outcome="idle_timeout") == []
    assert len(sessions(server, client="127.0.0.1", since="1m")) == 2
    assert len(sessions(server, limit=1)) == 1
    bad = requests.get(api(server, "/api/v1/sessions"), params={"since": "yesterday"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["field"] == "since"
    missing = requests.get(api(server, "/api/v1/sessions/999999"), timeout=10)
    assert missing.status_code == 404 and missing.json()["field"] == "id"


def test_fail_twice_per_recipient_then_pass_is_verified_in_one_call(sinkhole, tmp_path):
    config = write(tmp_path, "rules.yaml", """\
        rules:
          - id: twice
            command: RCPT
            count_per: recipient
            responses:
              - {code: 451, enhancedCode: 4.2.0, message: Try later}
              - {code: 451, enhancedCode: 4.2.0, message: Try later}
              - pass
        """)
    server = sinkhole("--mode", "accept", "--rules", config)
    replies = [deliver(server, "bob@example.com") for _ in range(3)]
    assert replies == [(451, b"4.2.0 Try later"), (451, b"4.2.0 Try later"), (250, b"2.1.5 OK")]
    status, body = verify(server, {"command": "RCPT", "matching": "bob@example.com", "count": {"atLeast": 3}})
    assert status == 200, body
    assert body["matched"] is True and body["count"] == 3 and len(body["sessions"]) == 3
    assert [o["reply"] for o in body["occurrences"]] == ["451 4.2.0 Try later", "451 4.2.0 Try later", "250 2.1.5 OK"]
    assert [o["decision"] for o in body["occurrences"]] == ["rule twice", "rule twice", None]

    status, body = verify(server, {"command": "RCPT", "matching": "bob@example.com", "count": {"exactly": 2}})
    assert status == 409 and body["matched"] is False
    assert body["near_misses"][0] == 'RCPT matching "bob@example.com" was sent 3 times; expected exactly 2'
    assert "rule twice: 451 4.2.0 Try later (2)" in body["near_misses"][1]

    # The retries came at once: a backoff of 5 s was not kept.
    status, body = verify(server, {"command": "RCPT", "matching": "bob@", "spacing": {"atLeast": "5s"}})
    assert status == 409
    assert any(m.startswith("occurrence 2 came ") and m.endswith("after occurrence 1; expected at least 5.0 s")
               for m in body["near_misses"]), body

    status, body = verify(server, {"command": "RCPT", "matching": "dave@"})
    assert status == 409
    assert body["near_misses"] == [
        'RCPT matching "dave@" was sent 0 times; expected at least 1',
        "RCPT lines that were sent: RCPT TO:<bob@example.com> (3)",
    ]


def test_quit_after_a_reply_and_no_retry_after_a_550(sinkhole, tmp_path):
    config = write(tmp_path, "rules.yaml", """\
        rules:
          - id: busy
            command: MAIL
            condition: {operator: contains, matchingValue: busy@}
            response: {code: 451, enhancedCode: 4.3.0, message: Busy}
          - id: gone
            command: RCPT
            condition: {operator: contains, matchingValue: gone@}
            response: {code: 550, enhancedCode: 5.1.1, message: Gone}
        """)
    server = sinkhole("--mode", "accept", "--rules", config)
    client = server.raw()
    assert client.reply()[0] == 220
    assert client.command(b"HELO client.test")[0] == 250
    assert client.command(b"MAIL FROM:<busy@example.com>") == (451, b"4.3.0 Busy")
    assert client.command(b"QUIT")[0] == 221
    session_done(server, client)
    status, body = verify(server, {"command": "QUIT", "previous": {"code": 451}})
    assert status == 200, body
    status, body = verify(server, {"command": "QUIT", "previous": {"code": 421}})
    assert status == 409
    assert "QUIT was sent 1 time after a reply other than 421 (after 451 (1))" in body["near_misses"]

    assert deliver(server, "gone@example.com") == (550, b"5.1.1 Gone")
    status, body = verify(server, {"command": "RCPT", "matching": "gone@", "after": {"code": 550}, "count": {"exactly": 0}})
    assert status == 200, body
    assert deliver(server, "gone@example.com") == (550, b"5.1.1 Gone")
    status, body = verify(server, {"command": "RCPT", "matching": "gone@", "after": {"code": 550}, "count": {"exactly": 0}})
    assert status == 409 and body["count"] == 1
    assert body["near_misses"][0] == 'RCPT matching "gone@" was sent 1 time; expected exactly 0, after one was answered 550'


def test_bad_expectations_get_a_400_naming_the_field(sinkhole):
    server = sinkhole("--mode", "accept")
    cases = [
        (b"not json", "body"),
        (b'{"matching": "x"}', "command"),
        (b'{"command": 5}', "command"),
        (b'{"command": "RCPT", "count": {"atLeast": -1}}', "count.atLeast"),
        (b'{"command": "RCPT", "count": {"some": 1}}', "count.some"),
        (b'{"command": "RCPT", "spacing": {"atLeast": "soon"}}', "spacing.atLeast"),
        (b'{"command": "RCPT", "previous": {"code": 42}}', "previous"),
        (b'{"command": "RCPT", "colour": "red"}', "colour"),
    ]
    for body, field in cases:
        response = requests.post(api(server, "/api/v1/verify"), data=body, timeout=10)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["field"] == field, (body, response.text)


def test_the_journal_is_bounded_in_sessions_and_lines_and_can_be_off(sinkhole):
    server = sinkhole("--mode", "accept", "--journal-max-sessions", "2", "--journal-max-lines", "4")
    for recipient in ["a@example.com", "b@example.com", "c@example.com"]:
        deliver(server, recipient)
    kept = sessions(server)
    assert len(kept) == 2, "the oldest session is forgotten first"
    assert all(s["dropped_lines"] > 0 for s in kept)
    detail = requests.get(api(server, f"/api/v1/sessions/{kept[0]['id']}"), timeout=10).json()
    assert len(detail["transcript"]) == 4

    off = sinkhole("--mode", "accept", "--journal-max-sessions", "0")
    response = requests.get(api(off, "/api/v1/sessions"), timeout=10)
    assert response.status_code == 409 and response.json()["field"] == "journal-max-sessions"


def test_a_quit_sent_after_sinkholes_421_is_journalled_and_verifiable(sinkhole):
    server = sinkhole("--mode", "defer")
    client = server.raw()
    assert client.reply()[0] == 220
    assert client.command(b"HELO client.test")[0] == 250
    assert client.command(b"MAIL FROM:<a@example.com>")[0] == 250
    assert client.command(b"RCPT TO:<b@example.com>")[0] == 421
    client.send(b"QUIT\r\n")
    assert client.at_eof()
    session_done(server, client)
    status, body = verify(server, {"command": "QUIT", "previous": {"code": 421}})
    assert status == 200, body


def test_after_a_reply_that_never_came_does_not_pass(sinkhole):
    server = sinkhole("--mode", "accept")
    deliver(server, "bob@example.com")
    status, body = verify(server, {"command": "RCPT", "matching": "bobb@", "after": {"code": 550}, "count": {"exactly": 0}})
    assert status == 409
    assert body["near_misses"][0] == 'no RCPT matching "bobb@" was answered 550, so nothing came after one'


def test_lines_in_the_same_write_behind_a_421_are_journalled(sinkhole):
    server = sinkhole("--mode", "defer")
    client = server.raw()
    assert client.reply()[0] == 220
    client.send(b"EHLO client.test\r\n")
    assert client.reply()[0] == 250
    # PIPELINING: everything in one write, the 421 comes at RCPT.
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRSET\r\nQUIT\r\n")
    assert client.reply()[0] == 250
    assert client.reply()[0] == 421
    assert client.at_eof()
    session_done(server, client)
    [summary] = sessions(server)
    transcript = requests.get(api(server, f"/api/v1/sessions/{summary['id']}"), timeout=10).json()["transcript"]
    lines = [(entry["kind"], entry["text"]) for entry in transcript if entry["kind"] in ("client", "server")]
    assert lines[-3:] == [("server", lines[-3][1]), ("client", "RSET"), ("client", "QUIT")]
    assert lines[-3][1].startswith("421 ")
    # Neither was answered: the last reply each saw is the 421.
    for command in ("RSET", "QUIT"):
        status, body = verify(server, {"command": command, "previous": {"code": 421}})
        assert status == 200, body
