"""Connection limit and idle timeout."""

import select
import socket
import time

from conftest import HOSTNAME, send_while_draining

GREETING = (220, f"{HOSTNAME} ESMTP sinkhole".encode())
OK = (250, b"2.0.0 OK")


def test_max_connections_refuses_the_next_one_until_one_closes(sinkhole):
    server = sinkhole("--mode", "accept", "--max-connections", "3")
    held = [server.raw() for _ in range(3)]
    for client in held:
        assert client.reply1() == GREETING

    fourth = server.raw()
    assert fourth.reply1() == (421, b"4.7.0 Too many connections")
    assert fourth.at_eof()
    limit = server.wait_for_log(lambda e: e["event"] == "limit_exceeded")
    assert limit["limit"] == "max_connections"
    assert limit["client"] == f"127.0.0.1:{fourth.client_port}"

    # The three admitted are unaffected.
    for client in held:
        assert client.command(b"NOOP") == OK

    assert held[0].command(b"QUIT") == (221, b"2.0.0 Bye")
    assert held[0].at_eof()
    server.connection_log(held[0].client_port)

    # The slot is given back once the server has closed that connection.
    deadline = time.monotonic() + 5
    while True:
        client = server.raw()
        reply = client.reply1()
        if reply == GREETING or time.monotonic() > deadline:
            break
        client.close()
    assert reply == GREETING
    assert client.command(b"NOOP") == OK
    # ...and that one is the third again: the next is refused.
    extra = server.raw()
    assert extra.reply1() == (421, b"4.7.0 Too many connections")


def test_idle_timeout_sends_421_and_closes(sinkhole):
    server = sinkhole("--mode", "accept", "--idle-timeout", "1s")
    client = server.raw()
    assert client.reply1() == GREETING
    client.send(b"EHLO client.test\r\n")
    assert client.reply()[0] == 250
    silent_since = time.monotonic()
    assert client.reply1() == (421, b"4.4.2 Idle timeout")
    waited = time.monotonic() - silent_since
    assert client.at_eof()
    assert 0.8 <= waited < 5, waited
    connection = server.connection_log(client.client_port)
    assert connection["outcome"] == "idle_timeout"
    assert connection["last_reply"] == 421


def test_idle_timeout_is_per_command(sinkhole):
    """A client that keeps talking is not cut off, however long the session."""
    server = sinkhole("--mode", "accept", "--idle-timeout", "1s")
    client = server.raw()
    assert client.reply1() == GREETING
    started = time.monotonic()
    while time.monotonic() - started < 2.5:
        time.sleep(0.4)  # silence shorter than the timeout: this is what is tested
        assert client.command(b"NOOP") == OK
    assert client.command(b"QUIT") == (221, b"2.0.0 Bye")


def test_idle_timeout_applies_inside_data(sinkhole):
    server = sinkhole("--mode", "accept", "--idle-timeout", "1s")
    client = server.raw()
    client.reply1()
    client.send(b"EHLO client.test\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
    client.reply()
    assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: stalled\r\n\r\nhalf a message")
    assert client.reply1() == (421, b"4.4.2 Idle timeout")
    assert client.at_eof()
    assert server.connection_log(client.client_port)["outcome"] == "idle_timeout"


def test_a_client_that_never_reads_its_replies_is_no_longer_read_from(sinkhole):
    """Pipelined commands from a client that reads none of the replies: once
    the replies back up, sinkhole stops reading from it, so what it holds for
    that client stays bounded and the client's own sends block. Other clients
    are served meanwhile, and every reply arrives, in order, once the client reads."""
    server = sinkhole("--mode", "accept")
    rss_before = server.rss()
    hog = socket.socket()
    # Small buffers on the client's side, so the test pushes megabytes, not tens.
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
    hog.connect(("127.0.0.1", server.port))
    hog.setblocking(False)
    line = b"NOOP\r\n"
    chunk = line * 10_000
    sent = 0
    # Push until the kernel's buffers on both sides are full and stay full for a second.
    while sent < 64 * 1024 * 1024:
        _, writable, _ = select.select([], [hog], [], 1.0)
        if not writable:
            break
        sent += hog.send(chunk[sent % len(line):])  # a short send may end mid-line
    assert sent < 64 * 1024 * 1024, "sinkhole kept reading from a client that reads nothing"
    assert server.rss() - rss_before < 32 * 1024 * 1024

    other = server.raw()
    assert other.reply1() == GREETING
    assert other.command(b"NOOP") == OK

    # Finish the last command cut off mid-line and QUIT while reading every
    # reply (a blocking send here could wait on sinkhole, which waits on us).
    complete, partial = divmod(sent, len(line))
    rest = b""
    if partial:
        rest = line[partial:]
        complete += 1
    received = send_while_draining(hog, rest + b"QUIT\r\n", timeout=60)
    hog.close()
    lines = bytes(received).split(b"\r\n")
    assert lines[0] == b"220 " + f"{HOSTNAME} ESMTP sinkhole".encode()
    assert lines[1:-2] == [b"250 2.0.0 OK"] * complete
    assert lines[-2:] == [b"221 2.0.0 Bye", b""]


def test_replies_backed_up_behind_quit_all_arrive_when_the_client_reads_late(sinkhole):
    """A client pipelines thousands of commands and QUIT, then waits longer
    than the 2 s linger before it reads: the replies still queued in sinkhole
    when it read QUIT are all delivered, then 221, then the close."""
    server = sinkhole("--mode", "accept")
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    client.connect(("127.0.0.1", server.port))
    count = 20_000
    client.setblocking(False)
    payload = b"NOOP\r\n" * count + b"QUIT\r\n"
    sent = client.send(payload)
    # Await sinkhole's reading QUIT (its closing starts the linger clock),
    # sending the rest if the first send was short, without reading a reply.
    deadline = time.monotonic() + 30
    while sent < len(payload):
        assert time.monotonic() < deadline, f"only {sent} of {len(payload)} bytes taken"
        select.select([], [client], [], 1.0)
        try:
            sent += client.send(payload[sent:])
        except BlockingIOError:
            pass
    # The client is slow to read: longer than the linger time.
    time.sleep(3)
    received = send_while_draining(client, b"", timeout=60)
    client.close()
    lines = received.split(b"\r\n")
    assert lines[0] == b"220 " + f"{HOSTNAME} ESMTP sinkhole".encode()
    assert lines[1:-2] == [b"250 2.0.0 OK"] * count, f"{len(lines) - 3} of {count} replies"
    assert lines[-2:] == [b"221 2.0.0 Bye", b""]
