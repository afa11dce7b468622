"""GET /api/v1/events: server-sent events for captured mail, closed sessions,
mode changes and rules used up; a stream does not hold up shutdown."""

from __future__ import annotations

import json
import socket

import requests


def open_stream(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=15)
    sock.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: sinkhole\r\nAccept: text/event-stream\r\n\r\n")
    return sock


def read_events(sock: socket.socket, count: int) -> list[dict]:
    """The next `count` events (their data), or an error after the socket's timeout."""
    data = b""
    events: list[dict] = []
    while len(events) < count:
        chunk = sock.recv(65536)
        assert chunk, f"the stream ended after {events}"
        data += chunk
        while b"\n\n" in data:
            frame, data = data.split(b"\n\n", 1)
            for line in frame.split(b"\n"):
                if line.startswith(b"data: "):
                    events.append(json.loads(line[6:]))
    return events


def test_events_for_mail_sessions_modes_and_rules(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {id: once, command: NOOP, numberOfAnswer: 1, response: {code: 250, message: Once}}\n")
    server = sinkhole("--mode", "accept", "--capture", "memory", "--rules", str(rules))
    sock = open_stream(server)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head.lower()
    with server.smtp() as client:
        assert client.noop() == (250, b"Once")
        client.sendmail("a@example.com", ["b@example.com"], b"Subject: e\r\n\r\nx\r\n")
    # The session's end is published before its connection line is logged.
    server.wait_for_log(lambda e: e.get("event") == "connection" and e.get("outcome") == "quit")
    requests.put(f"http://127.0.0.1:{server.http_port}/api/v1/mode", json={"mode": "bounce"}, timeout=10)
    events = read_events(sock, 4)
    types = [e["type"] for e in events]
    assert types == ["rule_exhausted", "message_captured", "session_closed", "mode_changed"], events
    assert events[0]["rule"] == "once" and events[0]["key"] == "global"
    assert events[1]["from"] == "a@example.com" and events[1]["recipients"] == "b@example.com"
    assert events[2]["outcome"] == "quit"
    assert events[3]["new"] == "bounce" and events[3]["source"] == "api"
    sock.close()


def test_an_open_stream_does_not_hold_up_shutdown(sinkhole):
    server = sinkhole("--mode", "accept")
    sock = open_stream(server)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    server.terminate()
    assert server.wait(timeout=15) == 0
    sock.close()
