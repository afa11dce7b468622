"""Rules replaced over HTTP many times do not grow the process: each old
rule list (its compiled conditions, regular expressions and counters) is
freed once no session holds it. LeakSanitizer is not usable here (see
Tests/FuzzCorpus.lsan.supp), so this reads the resident size instead."""

from __future__ import annotations

import requests


def behaviors(round_: int) -> list[dict]:
    return [
        {
            "condition": {"operator": "contains", "matchingValue": f"user{round_}-{i}@example.com"},
            "response": {"code": 451, "message": f"round {round_} behaviour {i} " + "x" * 200},
            "command": "RCPT TO",
            "numberOfAnswer": 3,
        }
        for i in range(20)
    ]


def rules(round_: int) -> list[dict]:
    return [
        {
            "id": f"r{round_}-{i}",
            "command": "RCPT",
            "condition": {"operator": "matches", "field": "recipient", "matchingValue": f"^r{round_}-{i}-.*@example\\.com$"},
            "response": {"code": 452, "message": "x" * 200},
            "count_per": "recipient",
        }
        for i in range(10)
    ]


def churn(session: requests.Session, base: str, rounds: range) -> None:
    for round_ in rounds:
        response = session.put(f"{base}/smtpBehaviors", json=behaviors(round_), timeout=10)
        assert response.status_code == 204, (response.status_code, response.text)
        response = session.post(f"{base}/api/v1/rules", json=rules(round_), timeout=10)
        assert response.status_code == 201, response.text
        for i in range(10):
            assert session.delete(f"{base}/api/v1/rules/r{round_}-{i}", timeout=10).status_code == 204


def test_replacing_rules_over_http_thousands_of_times_does_not_grow_the_process(sinkhole):
    server = sinkhole("--mode", "accept", "--journal-max-sessions", "0")
    base = f"http://127.0.0.1:{server.http_port}"
    with requests.Session() as session:
        churn(session, base, range(100))  # warm: allocator arenas, Hummingbird's pools
        settled = server.rss()
        churn(session, base, range(100, 500))
        grown = server.rss() - settled
    # 400 rounds of 30 rules (12,000 compiled): leaking them would be many MiB.
    assert grown < 4 << 20, f"resident size grew by {grown / 1048576:.1f} MiB over 400 rounds"
    server.assert_alive()
