"""Graceful shutdown, configuration errors and configuration precedence."""

import os
import socket
import time

import pytest

from conftest import HOSTNAME, QUEUE_ID, assert_one_line_error, raw_session, rcpt_reply, run_sinkhole

SHUTTING_DOWN = (421, b"4.3.2 Shutting down")


def test_sigterm_lets_data_finish_and_tells_idle_sessions_421(sinkhole):
    server = sinkhole("--mode", "accept", "--shutdown-grace", "5s")
    in_data = raw_session(server)
    in_data.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@sinkhole.test>\r\nDATA\r\n")
    assert [in_data.reply1()[0] for _ in range(3)] == [250, 250, 354]
    in_data.send(b"Subject: during shutdown\r\n\r\nfirst half\r\n")
    idle = raw_session(server)

    server.terminate()
    signalled = time.monotonic()
    assert idle.reply1() == SHUTTING_DOWN
    assert idle.at_eof()

    # No new connections once shutdown began.
    deadline = time.monotonic() + 3
    refused = False
    while not refused and time.monotonic() < deadline:
        try:
            probe = socket.create_connection((server.host, server.port), timeout=2)
        except ConnectionRefusedError:
            refused = True
        else:
            probe.close()
            time.sleep(0.05)
    assert refused, "still accepting connections after SIGTERM"

    # The message in DATA finishes normally, then that session is closed too.
    in_data.send(b"second half\r\n.\r\n")
    code, text = in_data.reply1()
    assert code == 250 and QUEUE_ID.match(text), (code, text)
    assert in_data.reply1() == SHUTTING_DOWN
    assert in_data.at_eof()

    assert server.wait(timeout=10) == 0
    assert time.monotonic() - signalled < 5
    server.wait_for_log(lambda e: e["event"] == "stopped")
    outcomes = sorted(e["outcome"] for e in server.logs(lambda e: e["event"] == "connection"))
    assert outcomes == ["shutdown", "shutdown"]


def test_sigterm_closes_an_unfinished_message_after_the_grace_period(sinkhole):
    server = sinkhole("--mode", "accept", "--shutdown-grace", "1s")
    stuck = raw_session(server)
    stuck.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@sinkhole.test>\r\nDATA\r\n")
    assert [stuck.reply1()[0] for _ in range(3)] == [250, 250, 354]
    stuck.send(b"Subject: never finished\r\n\r\n")

    server.terminate()
    signalled = time.monotonic()
    assert server.wait(timeout=10) == 0
    assert 0.8 <= time.monotonic() - signalled < 6
    assert stuck.replies_until_eof() == []
    server.wait_for_log(lambda e: e["event"] == "grace_period_over")


def test_sigterm_right_after_listening_exits_zero(sinkhole):
    """Once `listening` is logged, SIGTERM is a graceful stop, not a kill."""
    server = sinkhole()
    server.terminate()
    assert server.wait(timeout=10) == 0
    assert server.stderr_lines == []


def test_listen_is_repeatable(sinkhole):
    server = sinkhole("--mode", "accept", "--listen", "127.0.0.1:0")
    addresses = [e["address"] for e in server.wait_for_logs(lambda e: e["event"] == "listening", 2)]
    assert len(set(addresses)) == 2
    for address in addresses:
        host, _, port = address.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            assert sock.recv(100).startswith(f"220 {HOSTNAME} ESMTP sinkhole".encode())


# -- bad configuration ------------------------------------------------------


def test_unknown_mode_is_an_error():
    result = run_sinkhole("--listen", "127.0.0.1:0", "--mode", "nonsense")
    assert_one_line_error(result, "nonsense", "defer, bounce, accept, accept-log, greylist")


def test_unknown_mode_in_the_environment_is_an_error():
    result = run_sinkhole("--listen", "127.0.0.1:0", env={"SINKHOLE_MODE": "nonsense"})
    assert_one_line_error(result, "SINKHOLE_MODE", "nonsense")


def test_port_in_use_is_an_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_sinkhole("--listen", f"127.0.0.1:{port}", "--mode", "accept")
    assert_one_line_error(result, f"127.0.0.1:{port}", "in use")


@pytest.mark.parametrize("flag, value, shown", [
    ("--max-message-size", "abc", "abc"),
    ("--max-line-length", "100", "max-line-length"),
    ("--idle-timeout", "soon", "soon"),
    ("--listen", "nowhere", "nowhere"),
    ("--greylist-reply", "250 OK", "greylist"),
    ("--threads", "0", "threads"),
])
def test_bad_flag_values_are_errors(flag, value, shown):
    args = ["--listen", "127.0.0.1:0"] if flag != "--listen" else []
    result = run_sinkhole(*args, flag, value)
    assert_one_line_error(result, shown)


def test_unreadable_config_file_is_an_error(tmp_path):
    missing = tmp_path / "missing.yaml"
    result = run_sinkhole("--listen", "127.0.0.1:0", "--config", str(missing))
    assert_one_line_error(result, str(missing))

    result = run_sinkhole("--listen", "127.0.0.1:0", "--config", str(tmp_path))  # a directory
    assert_one_line_error(result, str(tmp_path))

    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("mood: accept\n")
    assert_one_line_error(run_sinkhole("--listen", "127.0.0.1:0", "--config", str(unknown)), "mood")


def test_invalid_yaml_config_is_a_one_line_error(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("mode: [unclosed\n")
    assert_one_line_error(run_sinkhole("--listen", "127.0.0.1:0", "--config", str(broken)), str(broken))


# -- precedence -------------------------------------------------------------


def test_configuration_precedence_flags_over_environment_over_file(sinkhole, tmp_path):
    config = tmp_path / "sinkhole.yaml"
    config.write_text("mode: bounce\nmax-recipients: 5\n")

    from_file = sinkhole("--config", str(config))
    assert rcpt_reply(from_file) == (550, b"5.1.1 User unknown")

    from_env = sinkhole("--config", str(config), env={"SINKHOLE_MODE": "accept"})
    assert rcpt_reply(from_env) == (250, b"2.1.5 OK")
    assert from_env.listening["mode_source"] == "env:SINKHOLE_MODE"

    from_flag = sinkhole("--config", str(config), "--mode", "defer", env={"SINKHOLE_MODE": "accept"})
    assert rcpt_reply(from_flag) == (421, b"4.3.2 Service temporarily unavailable")

    # The config file named by the environment works the same way.
    via_env_config = sinkhole(env={"SINKHOLE_CONFIG": str(config)})
    assert rcpt_reply(via_env_config) == (550, b"5.1.1 User unknown")


def test_json_config_file(sinkhole, tmp_path):
    config = tmp_path / "sinkhole.json"
    config.write_text('{"mode": "accept", "max-message-size": "2K"}')
    server = sinkhole("--config", str(config))
    client = server.smtp()
    client.ehlo()
    assert client.esmtp_features["size"] == "2048"
    client.mail("a@example.com")
    assert client.rcpt("b@sinkhole.test") == (250, b"2.1.5 OK")
    client.quit()


def test_sigterm_under_load_200_transfers(sinkhole):
    """SIGTERM during 200 sessions: the 100 in DATA finish with 250, every other gets 421, exit 0 in the grace period."""
    server = sinkhole("--mode", "accept", "--shutdown-grace", "8s")
    in_data = []
    for _ in range(100):
        client = raw_session(server)
        client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@sinkhole.test>\r\nDATA\r\n")
        in_data.append(client)
    for client in in_data:
        assert [client.reply1()[0] for _ in range(3)] == [250, 250, 354]
        client.send(b"Subject: under load\r\n\r\n" + b"first half\r\n" * 1000)
    idle = [raw_session(server) for _ in range(100)]

    server.terminate()
    signalled = time.monotonic()
    for client in idle:
        assert client.reply1() == SHUTTING_DOWN
        assert client.at_eof()
    for client in in_data:
        client.send(b"second half\r\n" * 1000 + b".\r\n")
    for client in in_data:
        code, text = client.reply1()
        assert code == 250 and QUEUE_ID.match(text), (code, text)
        assert client.reply1() == SHUTTING_DOWN
        assert client.at_eof()

    assert server.wait(timeout=15) == 0
    assert time.monotonic() - signalled < 8
    connections = server.logs(lambda e: e["event"] == "connection")
    assert len(connections) == 200
    assert sum(c["messages"] for c in connections) == 100
    assert {c["outcome"] for c in connections} == {"shutdown"}


# -- threads -------------------------------------------------------------------

def event_loop_threads(pid: int) -> int:
    """NIO names its event-loop threads NIO-ELT-<group>-#<n>."""
    tasks = os.listdir(f"/proc/{pid}/task")
    names = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/comm") as comm:
                names.append(comm.read().strip())
        except FileNotFoundError:
            continue  # a thread that just ended
    return sum(1 for name in names if name.startswith("NIO-ELT"))


@pytest.mark.parametrize("threads", ["1", "3"])
def test_threads_sets_the_event_loops_that_serve_smtp_and_http(sinkhole, threads):
    server = sinkhole("--mode", "accept", env={"SINKHOLE_THREADS": threads})
    clients = [server.raw() for _ in range(6)]
    for client in clients:
        assert client.reply1() == (220, f"{HOSTNAME} ESMTP sinkhole".encode())
        assert client.command(b"NOOP") == (250, b"2.0.0 OK")
    assert server.http_get("/healthz")[::2] == (200, "ok\n")
    assert event_loop_threads(server.pid) == int(threads)


def test_stop_after_messages_and_sessions_exit_0(sinkhole):
    import smtplib
    server = sinkhole("--mode", "accept", "--stop-after-messages", "2")
    for n in range(2):
        client = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=15)
        assert client.sendmail("a@example.com", ["b@example.com"], f"Subject: {n}\r\n\r\nx\r\n".encode()) == {}
        try:
            client.quit()
        except smtplib.SMTPServerDisconnected:
            pass  # the second one may already be shut down
    assert server.wait(timeout=20) == 0
    line = server.wait_for_log(lambda e: e.get("event") == "stop_limit_reached")
    assert (line["limit"], line["count"]) == ("stop_after_messages", "2")
    server.stopped_on_purpose = True

    sessions = sinkhole("--mode", "accept", "--stop-after-sessions", "3")
    for _ in range(3):
        client = sessions.raw()
        assert client.reply()[0] == 220
        assert client.command(b"QUIT")[0] == 221
        client.close()
    assert sessions.wait(timeout=20) == 0
    assert sessions.wait_for_log(lambda e: e.get("event") == "stop_limit_reached")["limit"] == "stop_after_sessions"
    sessions.stopped_on_purpose = True
