"""The engine's rules over HTTP (/api/v1/rules), the reset to the
configured baseline (/api/v1/reset) and the greylist (/api/v1/greylist)."""

from __future__ import annotations

import textwrap

import requests

from conftest import rcpt_reply

TWICE = {
    "id": "twice", "command": "RCPT", "count_per": "recipient",
    "responses": [{"code": 451, "enhancedCode": "4.2.0", "message": "Try later"},
                  {"code": 451, "enhancedCode": "4.2.0", "message": "Try later"}, "pass"],
}


def url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.http_port}{path}"


def rcpt(server, recipient: str) -> tuple[int, bytes]:
    client = server.raw()
    assert client.reply()[0] == 220
    assert client.command(b"HELO client.test")[0] == 250
    assert client.command(b"MAIL FROM:<a@example.com>")[0] == 250
    reply = client.command(f"RCPT TO:<{recipient}>".encode())
    if reply[0] != 421:
        client.command(b"QUIT")
    client.close()
    return reply


def test_fail_twice_per_recipient_is_set_up_over_http_and_its_state_shown(sinkhole):
    server = sinkhole("--mode", "accept")
    response = requests.post(url(server, "/api/v1/rules"), json=TWICE, timeout=10)
    assert response.status_code == 201, response.text
    [created] = response.json()["rules"]
    assert created["id"] == "twice" and created["origin"] == "api" and created["next"] == "451 4.2.0 Try later"
    assert [rcpt(server, "bob@example.com") for _ in range(3)] == [
        (451, b"4.2.0 Try later"), (451, b"4.2.0 Try later"), (250, b"2.1.5 OK")]
    assert rcpt(server, "carol@example.com") == (451, b"4.2.0 Try later")
    state = requests.get(url(server, "/api/v1/rules/twice"), timeout=10).json()
    assert state["keys"] == {"bob@example.com": {"answered": 3, "next": "exhausted"},
                             "carol@example.com": {"answered": 1, "next": "451 4.2.0 Try later"}}
    assert state["answered"] == 4 and state["number_of_answer"] == 3
    verdict = requests.post(url(server, "/api/v1/verify"), timeout=10,
                            json={"command": "RCPT", "matching": "bob@example.com", "count": {"atLeast": 3}})
    assert verdict.status_code == 200, verdict.text


def test_bad_and_duplicate_rules_are_refused_with_the_field_named(sinkhole):
    server = sinkhole("--mode", "accept")
    assert requests.post(url(server, "/api/v1/rules"), json=TWICE, timeout=10).status_code == 201
    duplicate = requests.post(url(server, "/api/v1/rules"), json=TWICE, timeout=10)
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "id"
    cases = [
        ({"command": "FOO", "response": {"code": 451}}, "command"),
        ({"command": "RCPT"}, "response"),
        ({"command": "RCPT", "response": {"code": 699}}, "response.code"),
        ({"command": "RCPT", "condition": {"operator": "regex", "matchingValue": "("}, "response": {"code": 451}},
         "condition.matchingValue"),
        ({"command": "RCPT", "response": {"code": 451}, "colour": "red"}, "colour"),
    ]
    for rule, field in cases:
        response = requests.post(url(server, "/api/v1/rules"), json=rule, timeout=10)
        assert response.status_code == 400, (rule, response.text)
        assert response.json()["field"] == field, (rule, response.text)
    assert requests.post(url(server, "/api/v1/rules"), data=b"{", timeout=10).json()["field"] == "body"
    assert [r["id"] for r in requests.get(url(server, "/api/v1/rules"), timeout=10).json()["rules"]] == ["twice"]


def test_patch_and_delete_change_only_the_apis_rules(sinkhole, tmp_path):
    config = tmp_path / "rules.yaml"
    config.write_text(textwrap.dedent("""\
        rules:
          - id: from-file
            command: NOOP
            response: {code: 250, message: File NOOP}
        """))
    server = sinkhole("--mode", "accept", "--rules", str(config))
    ids = requests.post(url(server, "/api/v1/rules"), timeout=10, json=[
        {"command": "RCPT", "condition": {"operator": "contains", "matchingValue": "x@"}, "response": {"code": 550}},
        {"id": "defer-all", "command": "RCPT", "response": {"code": 451, "message": "Later"}},
    ]).json()["rules"]
    assert [r["id"] for r in ids] == ["api-1", "defer-all"]
    listed = requests.get(url(server, "/api/v1/rules"), timeout=10).json()["rules"]
    assert [(r["id"], r["origin"]) for r in listed] == [("api-1", "api"), ("defer-all", "api"), ("from-file", str(config))]
    assert rcpt(server, "y@example.com") == (451, b"Later")
    patched = requests.patch(url(server, "/api/v1/rules/defer-all"), timeout=10,
                             json={"response": {"code": 452, "message": "Full"}})
    assert patched.status_code == 200 and patched.json()["next"] == "452 Full"
    assert rcpt(server, "y@example.com") == (452, b"Full")
    for method in (requests.patch, requests.delete):
        refused = method(url(server, "/api/v1/rules/from-file"), json={}, timeout=10)
        assert refused.status_code == 409 and refused.json()["field"] == "id", refused.text
    assert requests.delete(url(server, "/api/v1/rules/defer-all"), timeout=10).status_code == 204
    assert requests.get(url(server, "/api/v1/rules/defer-all"), timeout=10).status_code == 404
    assert rcpt(server, "y@example.com") == (250, b"2.1.5 OK")
    assert requests.delete(url(server, "/api/v1/rules"), timeout=10).status_code == 204
    assert rcpt(server, "x@example.com") == (250, b"2.1.5 OK")


def test_reset_returns_everything_to_the_configured_baseline(sinkhole, tmp_path):
    config = tmp_path / "rules.yaml"
    config.write_text(textwrap.dedent("""\
        rules:
          - id: once
            command: RCPT
            condition: {operator: contains, matchingValue: once@}
            response: {code: 452, enhancedCode: 4.2.2, message: Once}
            numberOfAnswer: 1
        """))
    server = sinkhole("--mode", "accept", "--capture", "memory", "--rules", str(config))
    assert rcpt(server, "once@example.com") == (452, b"4.2.2 Once")
    assert rcpt(server, "once@example.com") == (250, b"2.1.5 OK")
    with server.smtp() as client:
        client.sendmail("a@example.com", ["z@example.com"], b"Subject: kept\r\n\r\nx\r\n")
    assert requests.get(url(server, "/smtpMailsCount"), timeout=10).text == "1"
    assert requests.post(url(server, "/api/v1/rules"), json=TWICE, timeout=10).status_code == 201
    assert requests.put(url(server, "/smtpBehaviors"), timeout=10,
                        data='[{"command":"NOOP","condition":{"operator":"matchAll"},"response":{"code":250,"message":"x"}}]'
                        ).status_code == 204
    assert requests.put(url(server, "/api/v1/mode"), json={"mode": "bounce"}, timeout=10).status_code == 200

    assert requests.post(url(server, "/api/v1/reset"), timeout=10).status_code == 204
    assert requests.get(url(server, "/smtpMailsCount"), timeout=10).text == "0"
    assert requests.get(url(server, "/smtpBehaviors"), timeout=10).json() == []
    assert [r["id"] for r in requests.get(url(server, "/api/v1/rules"), timeout=10).json()["rules"]] == ["once"]
    assert requests.get(url(server, "/api/v1/mode"), timeout=10).json()["source"] == "static"
    assert requests.get(url(server, "/api/v1/sessions"), timeout=10).json()["total"] == 0
    assert rcpt(server, "once@example.com") == (452, b"4.2.2 Once"), "the configured rule counts afresh"
    server.wait_for_log(lambda e: e.get("event") == "api_reset")


def test_greylist_entries_can_be_read_passed_and_cleared(sinkhole):
    server = sinkhole("--mode", "greylist")
    assert rcpt_reply(server)[0] == 421
    [entry] = requests.get(url(server, "/api/v1/greylist"), timeout=10).json()["entries"]
    assert entry["key"] == "127.0.0.1" and entry["state"] == "deferred" and entry["attempts"] == 1
    assert entry["last_gap_seconds"] is None
    assert requests.post(url(server, "/api/v1/greylist/127.0.0.1/pass"), timeout=10).status_code == 204
    assert rcpt_reply(server) == (250, b"2.1.5 OK")
    [entry] = requests.get(url(server, "/api/v1/greylist"), timeout=10).json()["entries"]
    assert entry["state"] == "passed" and entry["attempts"] == 2 and entry["last_gap_seconds"] >= 0
    missing = requests.post(url(server, "/api/v1/greylist/192.0.2.9/pass"), timeout=10)
    assert missing.status_code == 404 and missing.json()["field"] == "key"
    assert requests.delete(url(server, "/api/v1/greylist"), timeout=10).status_code == 204
    assert requests.get(url(server, "/api/v1/greylist"), timeout=10).json()["entries"] == []
    assert rcpt_reply(server)[0] == 421, "forgotten: greylisted anew"
