"""The operations HTTP listener (--http-listen): /healthz, /readyz and Prometheus /metrics.

Every figure is read after the event it counts has been logged (the
`connection` line is written after a session's figures are added), so no
test waits by sleeping.
"""

from __future__ import annotations

import socket

from conftest import (
    DEFERRED,
    RCPT_OK,
    assert_one_line_error,
    raw_session,
    run_sinkhole,
)

GREYLISTED = (421, b"4.3.2 Greylisted, try again later")


def test_healthz_readyz_and_an_unknown_path(sinkhole):
    server = sinkhole("--mode", "accept")
    assert server.http_get("/healthz") == (200, "text/plain; charset=utf-8", "ok\n")
    assert server.http_get("/readyz") == (200, "text/plain; charset=utf-8", "ready\n")
    assert server.http_get("/nope")[0] == 404
    line = server.wait_for_log(lambda e: e["event"] == "http_listening")
    assert line["address"] == f"127.0.0.1:{server.http_port}"
    assert line["paths"].startswith("/healthz /readyz /metrics /smtpBehaviors"), line
    assert "/api/v1/" in line["paths"], line


def test_one_session_is_counted_exactly(sinkhole):
    server = sinkhole("--mode", "accept")
    client = raw_session(server)  # greeted and EHLO'd
    assert client.command(b"MAIL FROM:<a@example.com>") == (250, b"2.1.0 OK")
    assert client.command(b"RCPT TO:<b@example.com>") == RCPT_OK
    assert client.command(b"DATA")[0] == 354
    client.send(b"Subject: hi\r\n\r\nbody\r\n.\r\n")
    assert client.reply1()[0] == 250
    assert client.command(b"BOGUS") == (500, b"5.5.2 Command not recognized")
    assert client.command(b"QUIT")[0] == 221
    server.connection_log(client.client_port)
    client.close()

    samples = server.metrics()
    expected = {
        "sinkhole_connections_total": 1,
        "sinkhole_connections_active": 0,
        "sinkhole_connections_refused_total": 0,
        'sinkhole_messages_total{outcome="accepted"}': 1,
        'sinkhole_messages_total{outcome="refused"}': 0,
        'sinkhole_messages_total{outcome="too_big"}': 0,
        'sinkhole_replies_total{code="220",command="connect"}': 1,
        'sinkhole_replies_total{code="250",command="EHLO"}': 1,
        'sinkhole_replies_total{code="250",command="MAIL"}': 1,
        'sinkhole_replies_total{code="250",command="RCPT"}': 1,
        'sinkhole_replies_total{code="354",command="DATA"}': 1,
        'sinkhole_replies_total{code="250",command="end_of_data"}': 1,
        'sinkhole_replies_total{code="500",command="unrecognized"}': 1,
        'sinkhole_replies_total{code="221",command="QUIT"}': 1,
        "sinkhole_session_duration_seconds_count": 1,
        'sinkhole_mode{mode="accept"}': 1,
        'sinkhole_mode{mode="defer"}': 0,
        "sinkhole_mode_known": 1,
        'sinkhole_mode_refreshes_total{source="static"}': 1,
        'sinkhole_mode_refresh_errors_total{source="static"}': 0,
    }
    assert {name: samples.get(name) for name in expected} == expected
    # Every byte the client sent, CR LF included: commands and content.
    commands = [b"EHLO client.test", b"MAIL FROM:<a@example.com>", b"RCPT TO:<b@example.com>", b"DATA", b"BOGUS", b"QUIT"]
    content = b"Subject: hi\r\n\r\nbody\r\n.\r\n"
    assert samples["sinkhole_received_bytes_total"] == sum(len(c) + 2 for c in commands) + len(content)


def test_a_deferred_session_counts_a_421_at_rcpt(sinkhole):
    server = sinkhole("--mode", "defer")
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<a@example.com>")[0] == 250
    assert client.command(b"RCPT TO:<b@example.com>") == DEFERRED
    assert client.at_eof()
    server.connection_log(client.client_port)
    client.close()
    samples = server.metrics()
    assert samples['sinkhole_replies_total{code="421",command="RCPT"}'] == 1
    assert samples['sinkhole_mode{mode="defer"}'] == 1


def test_mode_file_switches_show_in_the_gauges_and_a_bad_value_counts_an_error(sinkhole, tmp_path):
    mode_file = tmp_path / "mode"
    mode_file.write_text("accept\n")
    server = sinkhole("--mode-source", f"file:{mode_file}", "--mode-cache-ttl", "200ms")
    assert server.metrics()['sinkhole_mode{mode="accept"}'] == 1

    mark = server.mark()
    mode_file.write_text("bounce\n")
    server.wait_for_log(lambda e: e["event"] == "mode_changed", start=mark)
    samples = server.metrics()
    assert (samples['sinkhole_mode{mode="bounce"}'], samples['sinkhole_mode{mode="accept"}']) == (1, 0)
    assert samples['sinkhole_mode_refreshes_total{source="file"}'] >= 2

    mark = server.mark()
    mode_file.write_text("sideways\n")
    server.wait_for_log(lambda e: e["event"] == "mode_source_error", start=mark)
    samples = server.metrics()
    assert samples['sinkhole_mode_refresh_errors_total{source="file"}'] >= 1
    assert samples['sinkhole_mode{mode="bounce"}'] == 1  # the last good mode is kept
    assert server.http_get("/readyz")[0] == 200  # a mode is known: still ready


def test_refused_connections_are_counted(sinkhole):
    server = sinkhole("--mode", "accept", "--max-connections", "1")
    held = server.raw()
    assert held.reply1() == (220, b"sinkhole.test ESMTP sinkhole")
    extra = server.raw()
    assert extra.reply1() == (421, b"4.7.0 Too many connections")
    server.wait_for_log(lambda e: e["event"] == "limit_exceeded" and e["limit"] == "max_connections")
    samples = server.metrics()
    assert samples["sinkhole_connections_refused_total"] == 1
    assert samples["sinkhole_connections_active"] == 1
    extra.close()
    held.close()


def greylisted_attempt(server, source_ip: str) -> tuple[int, bytes]:
    client = server.raw(source_ip=source_ip)
    assert client.reply1()[0] == 220
    assert client.command(b"HELO client.test")[0] == 250
    assert client.command(b"MAIL FROM:<a@example.com>")[0] == 250
    reply = client.command(b"RCPT TO:<b@example.com>")
    client.close()
    server.wait_for_log(lambda e: e["event"] == "connection" and e["client"] == f"{source_ip}:{client.client_port}")
    return reply


def test_greylist_size_and_evictions(sinkhole):
    server = sinkhole("--mode", "greylist", "--greylist-max-entries", "1")
    assert greylisted_attempt(server, "127.0.0.2") == GREYLISTED
    samples = server.metrics()
    assert (samples["sinkhole_greylist_entries"], samples["sinkhole_greylist_evictions_total"]) == (1, 0)
    assert greylisted_attempt(server, "127.0.0.3") == GREYLISTED  # forgets 127.0.0.2
    samples = server.metrics()
    assert (samples["sinkhole_greylist_entries"], samples["sinkhole_greylist_evictions_total"]) == (1, 1)


def test_none_turns_the_listener_off(sinkhole):
    server = sinkhole("--mode", "accept", "--http-listen", "none")
    client = server.smtp()
    client.quit()
    server.connection_log(client.client_port)
    assert server.logs(lambda e: e["event"] == "http_listening") == []


def test_a_taken_http_port_is_a_one_line_startup_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_sinkhole("--listen", "127.0.0.1:0", "--http-listen", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert_one_line_error(result, f"http listener 127.0.0.1:{port}", "Address already in use")


def test_an_invalid_address_is_refused_from_flag_and_environment():
    expected = 'expected HOST:PORT, such as 127.0.0.1:8025, or none'
    result = run_sinkhole("--http-listen", "localhost")
    assert result.returncode == 2
    assert_one_line_error(result, 'invalid --http-listen "localhost"', expected)
    result = run_sinkhole(env={"SINKHOLE_HTTP_LISTEN": "8025"})
    assert_one_line_error(result, 'invalid SINKHOLE_HTTP_LISTEN "8025"', expected)
