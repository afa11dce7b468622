"""--mode-source: one setting names where the mode comes from (static:, env:, file:, ssm:).

The ssm: tests here use a tiny stand-in for SSM that answers GetParameter
slowly on demand, to show that SSM latency never delays an SMTP reply (the
real-API tests with signature checking are in test_ssm.py).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import DEFERRED, RCPT_OK, SinkholeServer, rcpt_reply, run_sinkhole, wait_for_rcpt_reply

BOUNCED = (550, b"5.1.1 User unknown")


def test_static_source():
    server = SinkholeServer(["--listen", "127.0.0.1:0", "--mode-source", "static:accept"])
    try:
        assert server.listening["mode"] == "accept"
        assert server.listening["mode_source"] == "static"
        assert rcpt_reply(server) == RCPT_OK
    finally:
        server.stop()


def test_env_source_names_any_variable_and_wins_over_mode():
    server = SinkholeServer(
        ["--listen", "127.0.0.1:0", "--mode", "accept"],
        env={"SINKHOLE_MODE_SOURCE": "env:CABAL_MODE", "CABAL_MODE": "bounce"},
    )
    try:
        assert server.listening["mode_source"] == "env:CABAL_MODE"
        assert rcpt_reply(server) == BOUNCED
    finally:
        server.stop()


def test_file_source_switches(tmp_path):
    mode_file = tmp_path / "mode"
    mode_file.write_text("defer\n")
    server = SinkholeServer(
        ["--listen", "127.0.0.1:0", "--mode-source", f"file:{mode_file}", "--mode-cache-ttl", "300ms"]
    )
    try:
        assert server.listening["mode_source"] == f"file:{mode_file}"
        assert rcpt_reply(server) == DEFERRED
        (tmp_path / "mode.new").write_text("accept\n")
        (tmp_path / "mode.new").replace(mode_file)
        wait_for_rcpt_reply(server, RCPT_OK)
    finally:
        server.stop()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("s3:bucket/key", 'invalid --mode-source "s3:bucket/key": expected ssm:PARAMETER, file:PATH, env:VARIABLE or static:MODE'),
        ("ssm:", 'invalid --mode-source "ssm:": expected ssm:PARAMETER, file:PATH, env:VARIABLE or static:MODE'),
        ("static:sideways", 'invalid --mode-source "static:sideways": expected ssm:PARAMETER, file:PATH, env:VARIABLE or static:MODE (MODE one of defer, bounce, accept, accept-log, greylist)'),
        ("ssm:/has space", 'invalid --mode-source "ssm:/has space": expected ssm:PARAMETER, file:PATH, env:VARIABLE or static:MODE'),
    ],
)
def test_bad_source_is_a_configuration_error(spec, message):
    result = run_sinkhole("--listen", "127.0.0.1:0", "--mode-source", spec)
    assert result.returncode == 2
    assert result.stderr.decode() == f"sinkhole: error: {message}\n"


def test_ssm_without_region_is_a_configuration_error():
    result = run_sinkhole("--listen", "127.0.0.1:0", "--mode-source", "ssm:/cabal/sinkhole_mode",
                          env={"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x"})
    assert result.returncode == 2
    assert result.stderr.decode() == (
        "sinkhole: error: mode source ssm:/cabal/sinkhole_mode needs a region: "
        "set AWS_REGION, AWS_DEFAULT_REGION or --aws-region\n"
    )


class SlowSSM:
    """Answers GetParameter with `value`, each answer held for `delay` seconds."""

    def __init__(self, value: str):
        self.value = value
        self.delay = 0.0
        self.requests = 0
        self.started = threading.Condition()
        ssm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with ssm.started:
                    ssm.requests += 1
                    ssm.started.notify_all()
                    delay, value = ssm.delay, ssm.value
                time.sleep(delay)  # the slow service itself, not synchronisation
                answer = json.dumps({"Parameter": {"Name": body["Name"], "Value": value}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def set(self, value: str, delay: float) -> int:
        """Changes the answer; returns how many requests came before the change."""
        with self.started:
            self.value, self.delay = value, delay
            return self.requests

    def wait_for_request(self, after: int, timeout: float = 10.0) -> None:
        with self.started:
            assert self.started.wait_for(lambda: self.requests > after, timeout), "no GetParameter call came"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def ssm_env(url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_SSM": url, "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-checked-here",
    }


def test_slow_ssm_never_delays_an_smtp_reply():
    ssm = SlowSSM("accept")
    server = SinkholeServer(
        ["--listen", "127.0.0.1:0", "--mode-source", "ssm:/cabal/sinkhole_mode", "--mode-cache-ttl", "200ms"],
        env=ssm_env(ssm.url),
    )
    try:
        assert server.listening["mode"] == "accept"
        # From now on each GetParameter takes 3 s and says bounce.
        before = ssm.set("bounce", delay=3.0)
        ssm.wait_for_request(after=before)
        # A refresh is under way: sessions get the cached mode at once.
        for _ in range(5):
            start = time.monotonic()
            reply = rcpt_reply(server)
            elapsed = time.monotonic() - start
            if reply == BOUNCED:
                break  # the slow answer arrived meanwhile
            assert reply == RCPT_OK
            assert elapsed < 1.0, f"an SMTP session took {elapsed:.2f}s while SSM was slow"
        wait_for_rcpt_reply(server, BOUNCED, deadline=10.0)
    finally:
        server.stop()
        ssm.close()


def test_ssm_timeout_keeps_the_last_good_mode():
    ssm = SlowSSM("accept")
    server = SinkholeServer(
        ["--listen", "127.0.0.1:0", "--mode-source", "ssm:/cabal/sinkhole_mode", "--mode-cache-ttl", "200ms",
         "--aws-request-timeout", "500ms"],
        env=ssm_env(ssm.url),
    )
    try:
        mark = server.mark()
        ssm.set("bounce", delay=2.0)
        error = server.wait_for_log(lambda e: e.get("event") == "mode_source_error", timeout=10.0, start=mark)
        assert error["kept"] == "accept"
        assert error["parameter"] == "/cabal/sinkhole_mode"
        assert error["reason"].startswith(f"SSM GetParameter at {ssm.url}/ failed: Operation timed out after ")
        assert "http_status" not in error
        assert rcpt_reply(server) == RCPT_OK
    finally:
        server.stop()
        ssm.close()
