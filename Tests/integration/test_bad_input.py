"""Bad input and floods over the wire: each gets a precise reply or a clean close,
and the server keeps serving others.

(Garbage bytes, NULs, bare CR/LF, 1 MB lines, invalid UTF-8, TLS and HTTP on
the SMTP port and SMTP smuggling are in test_protocol.py.)
"""

from __future__ import annotations

import os
import socket
import threading
import time

from conftest import QUEUE_ID, raw_session

DEFERRED = (421, b"4.3.2 Service temporarily unavailable")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_commands_after_quit_are_not_answered(sinkhole):
    server = sinkhole("--mode", "accept")
    client = raw_session(server)
    client.send(b"QUIT\r\nNOOP\r\nMAIL FROM:<a@example.com>\r\nRSET\r\n")
    assert client.replies_until_eof() == [(221, b"2.0.0 Bye")]
    assert server.connection_log(client.client_port)["commands"] == 2  # EHLO and QUIT


def test_a_dot_with_trailing_spaces_does_not_end_the_data(sinkhole):
    server = sinkhole("--mode", "accept-log")
    client = raw_session(server)
    client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@sinkhole.test>\r\nDATA\r\n")
    assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: dots\r\n\r\n. \r\n.\t\r\n..\r\nlast line\r\n.\r\n")
    code, text = client.reply1()
    assert code == 250 and QUEUE_ID.match(text), (code, text)
    message = server.wait_for_log(lambda e: e["event"] == "message")
    # ". \r\n" and ".\t\r\n" are body lines; "..\r\n" unstuffs to ".\r\n" (the size
    # leaves out the CRLF that belongs to the final "\r\n.\r\n", as the SIZE tests do).
    assert message["size"] == len(b"Subject: dots\r\n\r\n. \r\n.\t\r\n.\r\nlast line")


def test_a_421_reaches_a_pipelining_client_before_the_close(sinkhole):
    """defer closes after its 421 with the client's pipelined DATA and body unread:
    the close is a FIN after the reply, not a reset that could destroy it."""
    server = sinkhole("--mode", "defer")
    for _ in range(20):
        client = raw_session(server)
        client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@sinkhole.test>\r\nDATA\r\n"
                    + b"Subject: pipelined\r\n\r\n" + b"x" * 200_000 + b"\r\n.\r\nQUIT\r\n")
        assert client.replies_until_eof() == [(250, b"2.1.0 OK"), DEFERRED]
        client.close()
    server.assert_alive()


def test_a_connection_flood_is_refused_cleanly_and_leaks_nothing(sinkhole):
    server = sinkhole("--mode", "accept", "--max-connections", "100")
    baseline = open_fds(server.pid)

    # 100 held, 400 more at once: each of those gets 421 4.7.0 and a close.
    held = [socket.create_connection((server.host, server.port)) for _ in range(100)]
    for s in held:
        assert s.recv(100).startswith(b"220 ")
    refused = []
    lock = threading.Lock()

    def flood():
        for _ in range(100):
            s = socket.create_connection((server.host, server.port), timeout=10)
            data = b""
            while chunk := s.recv(100):
                data += chunk
            s.close()
            with lock:
                refused.append(data)

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert refused == [b"421 4.7.0 Too many connections\r\n"] * 400

    for s in held:
        s.close()
    # Every descriptor comes back once the server has seen the closes.
    deadline = time.monotonic() + 10
    while open_fds(server.pid) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds(server.pid) == baseline

    # And accept still works.
    smtp = server.smtp()
    smtp.ehlo()
    assert smtp.noop() == (250, b"2.0.0 OK")
    smtp.quit()
