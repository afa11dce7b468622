"""`sinkhole healthcheck`: the container's HEALTHCHECK (the image has no curl or nc)."""

from __future__ import annotations

import socket
import threading

from conftest import SinkholeServer, run_sinkhole


def healthcheck(*args: str, env: dict[str, str] | None = None):
    return run_sinkhole("healthcheck", *args, env=env)


def test_healthy_server():
    server = SinkholeServer(["--listen", "127.0.0.1:0", "--hostname", "sinkhole.test"])
    try:
        result = healthcheck("--address", f"127.0.0.1:{server.port}")
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode() == f"ok: 127.0.0.1:{server.port} said 220 sinkhole.test ESMTP sinkhole\n"
        # Without --address it checks SINKHOLE_LISTEN's first address, 0.0.0.0 read as loopback.
        result = healthcheck(env={"SINKHOLE_LISTEN": f"0.0.0.0:{server.port},[::1]:2525"})
        assert result.returncode == 0, result.stderr
        # The check is a polite session: greeting, QUIT, 221.
        lines = server.wait_for_logs(lambda e: e.get("event") == "connection", count=2)
        for line in lines:
            assert (line["outcome"], line["commands"], line["last_reply"], line["messages"]) == ("quit", 1, 221, 0)
    finally:
        server.stop()


def test_nothing_listening():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = healthcheck("--address", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr.decode() == f"sinkhole healthcheck: 127.0.0.1:{port}: Connection refused\n"


def test_a_full_server_is_not_healthy():
    server = SinkholeServer(["--listen", "127.0.0.1:0", "--max-connections", "1"])
    try:
        held = server.smtp()  # takes the only slot
        result = healthcheck("--address", f"127.0.0.1:{server.port}")
        assert result.returncode == 1
        assert result.stderr.decode() == (
            f'sinkhole healthcheck: 127.0.0.1:{server.port}: greeting was "421 4.7.0 Too many connections"\n'
        )
        held.close()
    finally:
        server.stop()


def test_a_silent_peer_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        result = healthcheck("--address", "127.0.0.1:%d" % listener.getsockname()[1], "--timeout", "500ms")
        assert result.returncode == 1
        assert result.stderr.decode().endswith("no greeting within 0.5 seconds\n")
    finally:
        for connection, _ in accepted:
            connection.close()
        listener.close()


def test_bad_address_is_a_usage_error():
    result = healthcheck("--address", "nowhere")
    assert result.returncode == 2
    assert result.stderr.decode() == 'sinkhole healthcheck: invalid --address "nowhere": expected HOST:PORT\n'
