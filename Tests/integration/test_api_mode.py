"""GET/PUT/DELETE /api/v1/mode: the effective mode and where it comes from,
and the API's override for CI without SSM."""

from __future__ import annotations

import time

import requests

from conftest import DEFERRED, rcpt_reply

BOUNCED = (550, b"5.1.1 User unknown")


def api(server, path: str = "/api/v1/mode") -> str:
    return f"http://127.0.0.1:{server.http_port}{path}"


def test_get_says_the_mode_and_its_source(sinkhole):
    server = sinkhole("--mode", "defer")
    body = requests.get(api(server), timeout=10).json()
    assert body["mode"] == "defer" and body["source"] == "static" and body["override"] is None
    configured = body["configured"]
    assert configured["mode"] == "defer" and configured["known"] is True
    assert configured["reads"] == 1 and configured["errors"] == 0 and configured["last_error"] is None
    assert configured["ttl_seconds"] == 30.0


def test_an_override_changes_new_sessions_and_delete_ends_it(sinkhole):
    server = sinkhole("--mode", "defer")
    assert rcpt_reply(server) == DEFERRED
    response = requests.put(api(server), json={"mode": "bounce"}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "bounce" and body["source"] == "api"
    assert body["override"] == {"mode": "bounce", "expires_in_seconds": None}
    assert body["configured"]["mode"] == "defer"
    assert rcpt_reply(server) == BOUNCED
    changed = server.wait_for_log(lambda e: e.get("event") == "mode_changed" and e.get("source") == "api")
    assert (changed["old"], changed["new"]) == ("defer", "bounce")

    response = requests.delete(api(server), timeout=10)
    assert response.status_code == 200 and response.json()["source"] == "static"
    assert rcpt_reply(server) == DEFERRED
    server.wait_for_log(lambda e: e.get("event") == "mode_changed" and e.get("note") == "API override cleared")


def test_an_override_with_a_ttl_expires_by_itself(sinkhole):
    server = sinkhole("--mode", "defer")
    body = requests.put(api(server), json={"mode": "accept", "ttl": "1s"}, timeout=10).json()
    assert body["override"]["mode"] == "accept" and 0 < body["override"]["expires_in_seconds"] <= 1.0
    assert rcpt_reply(server) == (250, b"2.1.5 OK")
    deadline = time.monotonic() + 10
    while requests.get(api(server), timeout=10).json()["source"] == "api":
        assert time.monotonic() < deadline, "the override did not expire within 10 s"
        time.sleep(0.1)
    assert rcpt_reply(server) == DEFERRED
    server.wait_for_log(lambda e: e.get("event") == "mode_changed" and e.get("note") == "API override expired")


def test_bad_input_gets_a_400_naming_the_field(sinkhole):
    server = sinkhole("--mode", "defer")
    cases = [
        (b"not json", "body"),
        (b'["bounce"]', "body"),
        (b'{"mode": "sideways"}', "mode"),
        (b'{"mode": 3}', "mode"),
        (b'{}', "mode"),
        (b'{"mode": "bounce", "ttl": "soon"}', "ttl"),
        (b'{"mode": "bounce", "ttl": "0s"}', "ttl"),
        (b'{"mode": "bounce", "until": "10m"}', "until"),
    ]
    for body, field in cases:
        response = requests.put(api(server), data=body, timeout=10)
        assert response.status_code == 400, (body, response.status_code, response.text)
        assert response.json()["field"] == field, (body, response.text)
    assert requests.get(api(server), timeout=10).json()["override"] is None
    assert rcpt_reply(server) == DEFERRED


def test_changing_the_mode_needs_the_token_reading_it_may_not(sinkhole):
    token = "mode-token-1234"
    server = sinkhole("--mode", "defer", "--api-token", token, "--api-read-open")
    assert requests.get(api(server), timeout=10).status_code == 200
    refused = requests.put(api(server), json={"mode": "bounce"}, timeout=10)
    assert refused.status_code == 401 and refused.json()["field"] == "Authorization"
    assert rcpt_reply(server) == DEFERRED
    accepted = requests.put(api(server), json={"mode": "bounce"}, timeout=10,
                            headers={"Authorization": f"Bearer {token}"})
    assert accepted.status_code == 200
    assert rcpt_reply(server) == BOUNCED
