"""A 50 MiB message (memory stays flat), 500 concurrent sessions, and TCP_NODELAY on every accepted connection."""

import ctypes
import errno
import os
import socket
import threading
import time

import pytest

from conftest import queue_id

MiB = 1 << 20


def test_50_mib_message_is_streamed_not_buffered(sinkhole, record_property):
    server = sinkhole("--mode", "accept", "--max-message-size", "100M")
    client = server.smtp(timeout=120)
    client.ehlo()
    assert client.esmtp_features["size"] == str(100 * MiB)
    # A small message first, so first-use costs are in the baseline.
    client.mail("a@example.com")
    client.rcpt("b@sinkhole.test")
    queue_id(client.data(b"Subject: warm-up\r\n\r\nwarm\r\n"))

    rss_before = server.rss()
    hwm_before = server.status("VmHWM")
    assert client.mail("a@example.com", ["SIZE=52428800"]) == (250, b"2.1.0 OK")
    assert client.rcpt("b@sinkhole.test") == (250, b"2.1.5 OK")
    assert client.docmd("DATA") == (354, b"End data with <CR><LF>.<CR><LF>")

    # 50 MiB from a generator, 1 MiB at a time; sampling the server's RSS as it reads.
    line = b"x" * 1022 + b"\r\n"  # 1 KiB
    head = b"Subject: fifty mebibytes\r\n\r\n"

    def chunks():
        yield head + line * 1023 + b"y" * (1022 - len(head)) + b"\r\n"
        for _ in range(49):
            yield line * 1024

    sent = 0
    peak_sampled = rss_before
    started = time.monotonic()
    for part in chunks():
        client.send(part)
        sent += len(part)
        peak_sampled = max(peak_sampled, server.rss())
    assert sent == 50 * MiB
    client.send(b".\r\n")
    reply = client.getreply()
    elapsed = time.monotonic() - started
    queue_id(reply)

    rss_after = server.rss()
    hwm_after = server.status("VmHWM")
    port = client.client_port
    assert client.quit() == (221, b"2.0.0 Bye")
    connection = server.connection_log(port)
    assert connection["messages"] == 2

    figures = {
        "rss_before_kib": rss_before // 1024,
        "rss_after_kib": rss_after // 1024,
        "rss_peak_sampled_kib": peak_sampled // 1024,
        "vmhwm_before_kib": hwm_before // 1024,
        "vmhwm_after_kib": hwm_after // 1024,
        "seconds_for_50_mib": round(elapsed, 2),
    }
    for key, value in figures.items():
        record_property(key, value)
    print(f"\n50 MiB message figures: {figures}")

    limit = 20 * MiB
    assert rss_after - rss_before < limit, figures
    assert peak_sampled - rss_before < limit, figures
    assert hwm_after - max(hwm_before, rss_before) < limit, figures


def test_500_concurrent_sessions_are_all_answered(sinkhole, record_property):
    sessions = 500
    server = sinkhole("--mode", "accept")
    all_connected = threading.Barrier(sessions + 1)
    results: list[object] = [None] * sessions

    def session(n: int) -> None:
        try:
            client = server.smtp(timeout=60)
            assert client.greeting[0] == 220
            assert client.ehlo()[0] == 250
            all_connected.wait(timeout=90)  # all 500 open at once
            assert client.mail(f"s{n}@example.com") == (250, b"2.1.0 OK")
            assert client.rcpt(f"r{n}@sinkhole.test") == (250, b"2.1.5 OK")
            qid = queue_id(client.data(f"Subject: session {n}\r\n\r\nbody {n}\r\n".encode()))
            assert client.quit() == (221, b"2.0.0 Bye")
            results[n] = qid
        except BaseException as error:  # noqa: BLE001 - reported below
            results[n] = error
            all_connected.abort()

    started = time.monotonic()
    threads = [threading.Thread(target=session, args=(n,), daemon=True) for n in range(sessions)]
    for thread in threads:
        thread.start()
    try:
        all_connected.wait(timeout=90)
    except threading.BrokenBarrierError:
        pass  # a session failed: reported below
    for thread in threads:
        thread.join(timeout=90)
    elapsed = time.monotonic() - started

    failures = [(n, r) for n, r in enumerate(results) if not isinstance(r, str)]
    assert not failures, f"{len(failures)} sessions failed, first: {failures[:3]}"
    assert len(set(results)) == sessions, "queue ids are not unique"
    connections = server.wait_for_logs(
        lambda e: e["event"] == "connection" and e["messages"] == 1 and e["outcome"] == "quit", sessions
    )
    assert len(connections) == sessions
    server.assert_alive()
    record_property("seconds_for_500_sessions", round(elapsed, 2))
    print(f"\n500 concurrent sessions in {elapsed:.2f}s")

    # Still serving afterwards.
    client = server.smtp()
    assert client.noop() == (250, b"2.0.0 OK")
    client.quit()


SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture


def accepted_socket(server_pid: int, client: socket.socket) -> socket.socket:
    """The server's end of `client`'s connection, duplicated into this process
    with pidfd_getfd(2) (Linux 5.6; the server is our child, so we may)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(server_pid)
    try:
        for name in os.listdir(f"/proc/{server_pid}/fd"):
            try:
                if not os.readlink(f"/proc/{server_pid}/fd/{name}").startswith("socket:"):
                    continue
            except FileNotFoundError:
                continue
            fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0 and ctypes.get_errno() in (errno.EPERM, errno.ENOSYS):
                # A kernel before 5.6, or a sandbox that forbids taking another process's descriptors.
                pytest.skip(f"pidfd_getfd refused here: {os.strerror(ctypes.get_errno())}")
            assert fd >= 0, f"pidfd_getfd: {os.strerror(ctypes.get_errno())}"
            dup = socket.socket(fileno=fd)
            try:
                if dup.type == socket.SOCK_STREAM and dup.family == socket.AF_INET and \
                        dup.getpeername() == client.getsockname():
                    return dup
            except OSError:
                pass  # a listening socket has no peer
            dup.close()
    finally:
        os.close(pidfd)
    raise AssertionError(f"no socket of pid {server_pid} is connected to {client.getsockname()}")


def test_every_accepted_connection_has_tcp_nodelay(sinkhole):
    # sinkhole sets TCP_NODELAY on the listening socket only: Linux's accepted sockets
    # inherit it, and setting it again on each would cost SwiftNIO's option futures for
    # every connection (bench/RESULTS.md, issue 16). Without it, Nagle would hold a
    # reply written in two parts until the client's delayed ACK, 40 ms a time.
    server = sinkhole("--mode", "accept")
    clients = [server.raw() for _ in range(3)]
    try:
        for client in clients:
            assert client.reply1()[0] == 220
            accepted = accepted_socket(server.pid, client.sock)
            try:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            finally:
                accepted.close()
    finally:
        for client in clients:
            client.close()
