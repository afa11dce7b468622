"""Slow clients: a session or a message that takes too long is closed with 421 4.4.2,
and thousands of trickling connections do not starve fast clients.

A client that sends a byte every few seconds is never idle, so --idle-timeout
(per read) cannot stop it; --session-time-limit and --data-time-limit can.
"""

from __future__ import annotations

import resource
import selectors
import socket
import time

from conftest import HOSTNAME

GREETING = (220, f"{HOSTNAME} ESMTP sinkhole".encode())
OK = (250, b"2.0.0 OK")
SESSION_LIMIT = (421, b"4.4.2 Session time limit exceeded")
DATA_LIMIT = (421, b"4.4.2 DATA time limit exceeded")


def test_a_busy_session_is_closed_at_the_session_time_limit(sinkhole):
    server = sinkhole("--mode", "accept", "--session-time-limit", "1500ms", "--idle-timeout", "30s")
    client = server.raw()
    started = time.monotonic()
    assert client.reply1() == GREETING
    # Never idle: a NOOP every 200 ms, each answered, until the limit cuts in.
    while True:
        client.send(b"NOOP\r\n")
        reply = client.reply1()
        if reply != OK:
            break
        assert time.monotonic() - started < 10, "the session time limit never came"
        time.sleep(0.2)  # the client's pace, not synchronisation
    assert reply == SESSION_LIMIT
    assert client.at_eof()
    assert 1.4 <= time.monotonic() - started < 5
    connection = server.connection_log(client.client_port)
    assert (connection["outcome"], connection["last_reply"]) == ("session_time_limit", 421)
    limit = server.wait_for_log(lambda e: e["event"] == "limit_exceeded" and e.get("limit") == "session_time_limit")
    assert limit["client"] == f"127.0.0.1:{client.client_port}"


def test_a_trickled_message_is_closed_at_the_data_time_limit(sinkhole):
    server = sinkhole("--mode", "accept", "--data-time-limit", "1s", "--idle-timeout", "30s")
    client = server.raw()
    assert client.reply1() == GREETING
    client.send(b"EHLO client.test\r\n")
    assert client.reply()[0] == 250
    assert client.command(b"MAIL FROM:<a@example.com>") == (250, b"2.1.0 OK")
    assert client.command(b"RCPT TO:<b@sinkhole.test>") == (250, b"2.1.5 OK")
    assert client.command(b"DATA") == (354, b"End data with <CR><LF>.<CR><LF>")
    started = time.monotonic()
    client.sock.settimeout(0.2)
    reply = None
    while reply is None and time.monotonic() - started < 10:
        try:
            client.send(b"x")  # one byte of body at a time: never idle
        except OSError:
            break
        try:
            reply = client.reply1()
        except (socket.timeout, TimeoutError):
            continue
    client.sock.settimeout(5)
    assert reply == DATA_LIMIT
    assert 0.9 <= time.monotonic() - started < 5
    connection = server.connection_log(client.client_port)
    assert (connection["outcome"], connection["messages"]) == ("data_time_limit", 0)


TRICKLERS = 2000


def test_two_thousand_tricklers_do_not_starve_fast_clients(sinkhole):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard >= TRICKLERS + 200, f"the test needs {TRICKLERS + 200} file descriptors, the hard limit is {hard}"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, TRICKLERS + 200), hard))
    server = sinkhole("--mode", "accept", "--session-time-limit", "6s", "--idle-timeout", "30s")

    selector = selectors.DefaultSelector()
    tricklers: list[socket.socket] = []
    received: dict[int, bytearray] = {}
    try:
        for index in range(TRICKLERS):
            s = socket.create_connection((server.host, server.port))
            s.setblocking(False)
            tricklers.append(s)
            received[index] = bytearray()
            selector.register(s, selectors.EVENT_READ, index)
        opened = time.monotonic()

        def drain(timeout: float) -> list[int]:
            """Reads what arrived; returns the tricklers the server closed."""
            ended = []
            for key, _ in selector.select(timeout=timeout):
                try:
                    chunk = key.fileobj.recv(4096)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    received[key.data].extend(chunk)
                else:
                    selector.unregister(key.fileobj)
                    ended.append(key.data)
            return ended

        # Each trickler sends "NOOP\r\n" one byte at a time, round-robin
        # (about one byte per connection per second), while a fast client
        # runs whole sessions every 100 ms.
        pattern = b"NOOP\r\n"
        sent = [0] * TRICKLERS
        fast_sessions = []
        index = 0
        closed: set[int] = set()
        # The accept storm first: the timing starts once every trickler has its greeting.
        greeted_by = time.monotonic() + 10
        while not all(b"\r\n" in data for data in received.values()) and time.monotonic() < greeted_by:
            closed.update(drain(0.5))
        assert all(b"\r\n" in data for data in received.values()), "not every trickler was greeted"
        trickling = time.monotonic()
        next_fast = trickling
        # Well inside the 6 s session limit, counted from each connection's start.
        while time.monotonic() - trickling < 2.5 and time.monotonic() - opened < 5.0:
            for _ in range(200):
                try:
                    tricklers[index].send(pattern[sent[index] % len(pattern):][:1])
                    sent[index] += 1
                except BlockingIOError:
                    pass
                index = (index + 1) % TRICKLERS
            closed.update(drain(0))
            if time.monotonic() >= next_fast:
                start = time.monotonic()
                client = server.smtp(timeout=5)
                client.ehlo("client.test")
                assert client.mail("a@example.com") == (250, b"2.1.0 OK")
                assert client.rcpt("b@sinkhole.test") == (250, b"2.1.5 OK")
                assert client.data(b"Subject: fast\r\n\r\nhello\r\n")[0] == 250
                client.quit()
                fast_sessions.append(time.monotonic() - start)
                next_fast = time.monotonic() + 0.1

        assert not closed, f"{len(closed)} tricklers were closed before the limit"
        assert len(fast_sessions) >= 5, fast_sessions
        assert max(fast_sessions) < 1.0, f"a fast session took {max(fast_sessions):.2f}s among {TRICKLERS} tricklers"

        # Every trickler is told 421 4.4.2 at the session limit, then closed.
        deadline = time.monotonic() + 20
        while len(closed) < TRICKLERS and time.monotonic() < deadline:
            closed.update(drain(0.5))
        assert len(closed) == TRICKLERS, f"{TRICKLERS - len(closed)} tricklers still open"
        finals = {bytes(data).rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1] for data in received.values()}
        assert finals == {b"421 4.4.2 Session time limit exceeded"}, finals
        assert time.monotonic() - opened < 6 + 10
    finally:
        for s in tricklers:
            s.close()
        selector.close()
