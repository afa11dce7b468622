"""--test-clock and POST /api/v1/clock: greylist windows and rule lifetimes
move with the clock a test sets; without the flag the clock cannot move."""

from __future__ import annotations

import textwrap

import requests

from conftest import rcpt_reply


def url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.http_port}{path}"


def advance(server, by: str) -> requests.Response:
    return requests.post(url(server, "/api/v1/clock"), json={"advance": by}, timeout=10)


def test_defer_retry_after_the_window_accept_without_waiting(sinkhole):
    server = sinkhole("--mode", "greylist", "--greylist-delay", "5m", "--test-clock")
    server.wait_for_log(lambda e: e.get("event") == "test_clock")
    assert rcpt_reply(server)[0] == 421, "first attempt: greylisted"
    assert rcpt_reply(server)[0] == 421, "a retry at once is too soon"
    response = advance(server, "310s")
    assert response.status_code == 200 and response.json() == {"advanced_seconds": 310.0}
    assert rcpt_reply(server) == (250, b"2.1.5 OK"), "the retry after the delay passes"
    [entry] = requests.get(url(server, "/api/v1/greylist"), timeout=10).json()["entries"]
    assert entry["state"] == "passed" and entry["attempts"] == 3 and entry["last_gap_seconds"] >= 310
    assert requests.get(url(server, "/api/v1/clock"), timeout=10).json() == {"advanced_seconds": 310.0}
    server.wait_for_log(lambda e: e.get("event") == "clock_advanced" and e.get("by") == "310s")


def test_a_rules_ttl_runs_on_the_test_clock(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: for-ten-minutes
            command: RCPT
            ttl: 10m
            response: {code: 451, enhancedCode: 4.7.1, message: Not now}
        """))
    server = sinkhole("--mode", "accept", "--rules", str(rules), "--test-clock")
    assert rcpt_reply(server) == (451, b"4.7.1 Not now")
    assert advance(server, "11m").status_code == 200
    assert rcpt_reply(server) == (250, b"2.1.5 OK")


def test_the_clock_moves_only_with_the_flag_and_only_forward(sinkhole):
    server = sinkhole("--mode", "accept")
    response = advance(server, "10s")
    assert response.status_code == 409 and response.json()["field"] == "test-clock"
    server = sinkhole("--mode", "accept", "--test-clock")
    for body in [{"advance": "-5s"}, {"advance": "soon"}, {"advance": "0s"}, {"by": "5s"}, {}]:
        response = requests.post(url(server, "/api/v1/clock"), json=body, timeout=10)
        assert response.status_code == 400 and response.json()["field"] == "advance", (body, response.text)
