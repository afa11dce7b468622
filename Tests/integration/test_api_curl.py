"""The control API driven by curl, as the docs and James's README drive it
(curl's default form content type on PUT, the token in a header)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest


def curl(*args: str) -> tuple[int, str]:
    """Runs curl; returns the HTTP status and the body."""
    assert shutil.which("curl"), "curl is needed (make deps installs it)"
    result = subprocess.run(["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", *args],
                            capture_output=True, timeout=20, text=True)
    assert result.returncode == 0, result.stderr
    body, _, code = result.stdout.rpartition("\n")
    return int(code), body


@pytest.fixture
def api(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory", "--api-token", "curl-token-1234")
    return server, f"http://127.0.0.1:{server.http_port}", ["-H", "Authorization: Bearer curl-token-1234"]


def test_james_readme_flow_with_curl(api):
    server, base, auth = api
    # James's README posts with curl's default (form) content type: it works.
    behaviours = '[{"command": "RCPT TO", "condition": {"operator": "matchAll"}, "response": {"code": "501", "message": "5.1.3 Bad recipient address syntax"}, "numberOfAnswer": 1}]'
    assert curl("-X", "PUT", *auth, "-d", behaviours, f"{base}/smtpBehaviors") == (204, "")
    code, body = curl(*auth, f"{base}/smtpBehaviors")
    assert code == 200 and json.loads(body)[0]["response"] == {"code": 501, "message": "5.1.3 Bad recipient address syntax"}
    with server.smtp() as client:
        client.ehlo()
        client.mail("a@example.com")
        assert client.rcpt("b@example.com") == (501, b"5.1.3 Bad recipient address syntax")
        assert client.rcpt("c@example.com") == (250, b"2.1.5 OK")
        client.data(b"Subject: curl\r\n\r\nx\r\n")
    code, body = curl("-X", "DELETE", *auth, f"{base}/smtpMails")
    assert code == 200 and [m["recipients"][0]["address"] for m in json.loads(body)] == ["c@example.com"]
    assert curl(*auth, f"{base}/smtpMailsCount") == (200, "0")
    assert curl(*auth, f"{base}/version") == (200, "0.4")


def test_native_routes_with_curl_and_the_token(api):
    _, base, auth = api
    code, body = curl(f"{base}/api/v1/mode")
    assert code == 401 and json.loads(body)["field"] == "Authorization"
    assert curl(f"{base}/healthz") == (200, "ok\n")
    code, body = curl("-X", "PUT", *auth, "-H", "Content-Type: application/json", "-d", '{"mode": "bounce", "ttl": "1m"}',
                      f"{base}/api/v1/mode")
    assert code == 200 and json.loads(body)["mode"] == "bounce"
    code, body = curl("-X", "POST", *auth, "-d", '{"id": "c1", "command": "NOOP", "response": {"code": 250, "message": "hi"}}',
                      f"{base}/api/v1/rules")
    assert code == 201 and json.loads(body)["rules"][0]["id"] == "c1"
    code, body = curl("-X", "POST", *auth, f"{base}/api/v1/mode")
    assert code == 405 and json.loads(body)["field"] == "method"
    assert curl("-X", "POST", *auth, f"{base}/api/v1/reset") == (204, "")
