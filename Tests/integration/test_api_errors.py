"""Bad input to the native routes: precise 4xx answers in JSON, never a 500;
James's routes keep James's empty answers."""

from __future__ import annotations

import requests


def url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.http_port}{path}"


def test_wrong_method_is_405_with_allow_and_unknown_path_404_in_json(sinkhole):
    server = sinkhole("--mode", "accept")
    response = requests.post(url(server, "/api/v1/mode"), timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, PUT, DELETE"
    assert response.json() == {"error": "POST is not allowed here (allowed: GET, PUT, DELETE)", "field": "method"}
    response = requests.put(url(server, "/api/v1/rules/some-id"), json={}, timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, PATCH, DELETE"
    response = requests.get(url(server, "/api/v1/nothing"), timeout=10)
    assert response.status_code == 404
    assert response.json() == {"error": "no such route: /api/v1/nothing", "field": "path"}
    # James's paths answer as James does: an empty 404.
    response = requests.post(url(server, "/smtpMails"), timeout=10)
    assert (response.status_code, response.content) == (404, b"")


def test_a_body_over_1_mib_is_413(sinkhole):
    server = sinkhole("--mode", "accept")
    big = b"[" + b" " * (1 << 20) + b"]"
    response = requests.post(url(server, "/api/v1/rules"), data=big, timeout=30)
    assert response.status_code == 413 and response.json()["field"] == "body"
    response = requests.put(url(server, "/smtpBehaviors"), data=big, timeout=30)
    assert (response.status_code, response.content) == (413, b"")
    assert requests.get(url(server, "/smtpBehaviors"), timeout=10).json() == []


def test_garbage_never_gets_a_500(sinkhole):
    server = sinkhole("--mode", "accept")
    bodies = [b"", b"{", b"null", b"[]", b'"x"', b"\xff\xfe", b'{"a": ' * 2000, b"[" * 5000, b"1e999999"]
    routes = [("POST", "/api/v1/rules"), ("POST", "/api/v1/verify"), ("PUT", "/api/v1/mode"),
              ("PUT", "/api/v1/chaos"), ("PUT", "/api/v1/messages"), ("DELETE", "/api/v1/messages"),
              ("PATCH", "/api/v1/rules/x"), ("PUT", "/smtpBehaviors"), ("PUT", "/smtpExtensions")]
    for method, path in routes:
        for body in bodies:
            response = requests.request(method, url(server, path), data=body, timeout=10)
            assert response.status_code < 500, (method, path, body[:20], response.status_code, response.text)
    server.assert_alive()


def test_the_open_plain_routes_answer_a_wrong_method_with_405(sinkhole):
    server = sinkhole("--mode", "accept")
    for path in ("/healthz", "/readyz", "/livez", "/metrics", "/", "/favicon.ico"):
        response = requests.post(url(server, path), timeout=10)
        assert (response.status_code, response.headers["Allow"]) == (405, "GET"), path
        assert response.text == "POST is not allowed here (allowed: GET)\n"
        assert requests.get(url(server, path), timeout=10).status_code in (200, 204), path
    response = requests.delete(url(server, "/nothing-here"), timeout=10)
    assert response.status_code == 404
