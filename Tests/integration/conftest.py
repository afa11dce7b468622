"""Fixtures and helpers for driving the real sinkhole binary.

Every test starts its own server on 127.0.0.1 with port 0 and reads the bound
port from the first JSON log line (`listening`). A background thread reads the
server's stdout into a list of parsed events, so tests can await log lines by
predicate (`server.wait_for_log(lambda e: e["event"] == "message")`) instead of
sleeping.

The binary comes from $SINKHOLE_BIN (the Makefile sets it), else
.build/debug/sinkhole under the repository root. These tests never build it.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import smtplib
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HOSTNAME = "sinkhole.test"
# What smtplib says in EHLO/HELO: given explicitly so smtplib never does a DNS lookup.
CLIENT_NAME = "client.test"
QUEUE_ID = re.compile(rb"^2\.0\.0 OK queued as ([0-9A-F]{16,})$")
STARTUP_TIMEOUT = 20.0


def binary_path() -> Path:
    configured = os.environ.get("SINKHOLE_BIN")
    path = Path(configured) if configured else REPO_ROOT / ".build" / "debug" / "sinkhole"
    return path if path.is_absolute() else REPO_ROOT / path


def clean_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test runner's environment without any SINKHOLE_* or AWS_* setting, plus `extra`.

    AWS_* goes too: the runner's own AWS profile, keys or CA bundle must never
    reach a sinkhole under test (the SSM tests give it their own, see aws_harness).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SINKHOLE_", "AWS_"))}
    env.update(extra or {})
    return env


def run_sinkhole(*args: str, env: dict[str, str] | None = None, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Runs the binary to completion (for configuration errors)."""
    return subprocess.run(
        [str(binary_path()), *args],
        env=clean_environment(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )


def assert_one_line_error(result, *fragments: str) -> str:
    """A configuration error: non-zero exit, one stderr line `sinkhole: error: ...` holding every fragment."""
    assert result.returncode != 0, result
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sinkhole: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


class SinkholeServer:
    """One running sinkhole process and everything it logged."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None):
        # The operations listener's default port (8025) would clash between
        # servers: give each a free one unless the test chose.
        if not any(a.startswith("--http-listen") for a in args) and "SINKHOLE_HTTP_LISTEN" not in (env or {}):
            args = [*args, "--http-listen", "127.0.0.1:0"]
        self.args = [str(binary_path()), *args]
        self.proc = subprocess.Popen(
            self.args,
            env=clean_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.pid = self.proc.pid
        self.events: list[dict] = []
        self.raw_stdout: list[str] = []
        self.stderr_lines: list[str] = []
        self.stopped_on_purpose = False
        self._cond = threading.Condition()
        self._stdout_done = False
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.host = "127.0.0.1"
        self.port = 0
        try:
            listening = self.wait_for_log(lambda e: e.get("event") == "listening", timeout=STARTUP_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        self.listening = listening
        host, _, port = listening["address"].rpartition(":")
        self.host, self.port = host, int(port)
        self._http_port: int | None = None
        # The operations listener binds just after `listening`: wait for it, so
        # a test that counts the process's descriptors starts from all of them.
        http_setting = (env or {}).get("SINKHOLE_HTTP_LISTEN", "")
        for flag, value in zip(args, args[1:]):
            if flag == "--http-listen":
                http_setting = value
        if http_setting.lower() != "none":
            try:
                _ = self.http_port
            except BaseException:
                self.stop()
                raise

    # -- operations HTTP listener -------------------------------------------

    @property
    def http_port(self) -> int:
        """The port of /healthz, /readyz and /metrics (awaits its `http_listening` line)."""
        if self._http_port is None:
            line = self.wait_for_log(lambda e: e.get("event") == "http_listening", timeout=STARTUP_TIMEOUT)
            self._http_port = int(line["address"].rpartition(":")[2])
        return self._http_port

    def http_get(self, path: str, timeout: float = 10.0) -> tuple[int, str, str]:
        """GET a path of the operations listener: (status, content type, body)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=timeout) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read().decode()

    def metrics(self) -> dict[str, float]:
        """/metrics as {'name{label="v",...}': value}, labels in the order sinkhole prints them."""
        status, content_type, body = self.http_get("/metrics")
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4"), (status, content_type)
        samples = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    # -- logs ---------------------------------------------------------------

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                event = json.loads(text)
                if not isinstance(event, dict):
                    event = {"event": "_unparsed", "line": text}
            except ValueError:
                event = {"event": "_unparsed", "line": text}
            with self._cond:
                self.raw_stdout.append(text)
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._stdout_done = True
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._cond:
                self.stderr_lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def stdout_text(self) -> str:
        with self._cond:
            return "\n".join(self.raw_stdout)

    def logs(self, predicate=lambda e: True) -> list[dict]:
        with self._cond:
            return [e for e in self.events if predicate(e)]

    def wait_for_log(self, predicate, timeout: float = 5.0, start: int = 0) -> dict:
        """The first event at index >= `start` matching `predicate`; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            index = start
            while True:
                while index < len(self.events):
                    event = self.events[index]
                    index += 1
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stdout_done:
                    break
                self._cond.wait(remaining)
        tail = "\n".join(json.dumps(e) for e in self.logs()[-15:])
        raise AssertionError(
            f"no matching log line within {timeout}s (process exit code {self.proc.poll()});"
            f" last lines:\n{tail}\nstderr: {self.stderr_lines[-5:]}"
        )

    def wait_for_logs(self, predicate, count: int, timeout: float = 10.0) -> list[dict]:
        """Waits until at least `count` events match; returns them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [e for e in self.events if predicate(e)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stdout_done:
                    raise AssertionError(f"saw {len(found)} of {count} matching log lines within {timeout}s")
                self._cond.wait(remaining)

    def mark(self) -> int:
        """The index of the next log line, for `wait_for_log(..., start=mark)`."""
        with self._cond:
            return len(self.events)

    def connection_log(self, client_port: int, timeout: float = 5.0) -> dict:
        """The `connection` line of the connection whose client port is `client_port`."""
        client = f"127.0.0.1:{client_port}"
        return self.wait_for_log(lambda e: e.get("event") == "connection" and e.get("client") == client, timeout)

    # -- process ------------------------------------------------------------

    def status(self, field: str) -> int:
        """A /proc/PID/status figure in bytes (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                value, unit = line.split()[1:3]
                assert unit == "kB"
                return int(value) * 1024
        raise AssertionError(f"{field} not in /proc/{self.pid}/status")

    def rss(self) -> int:
        return self.status("VmRSS")

    def terminate(self) -> None:
        self.stopped_on_purpose = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a timeout."""
        self.stopped_on_purpose = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def assert_alive(self) -> None:
        assert self.proc.poll() is None, (
            f"sinkhole exited with {self.proc.returncode}; stderr: {self.stderr_lines[-10:]}"
        )

    # -- clients ------------------------------------------------------------

    def smtp(self, timeout: float = 15.0) -> "Client":
        """A connected smtplib client; its greeting is in `.greeting`."""
        client = Client(local_hostname=CLIENT_NAME, timeout=timeout)
        client.greeting = client.connect(self.host, self.port)
        return client

    def raw(self, timeout: float = 15.0, source_ip: str | None = None) -> "RawClient":
        """A raw client; `source_ip` picks another loopback address (127.0.0.2) as a second client IP."""
        return RawClient(self.host, self.port, timeout, source_address=(source_ip, 0) if source_ip else None)


class Client(smtplib.SMTP):
    """smtplib.SMTP that remembers its local port (the `client` of its log lines)."""

    greeting: tuple[int, bytes]
    client_port: int = 0

    def connect(self, host="localhost", port=0, source_address=None):
        reply = super().connect(host, port, source_address)
        self.client_port = self.sock.getsockname()[1]
        return reply


class RawClient:
    """A plain TCP client that reads SMTP replies, for what smtplib cannot send."""

    def __init__(self, host: str, port: int, timeout: float = 15.0, source_address: tuple[str, int] | None = None):
        self.sock = socket.create_connection((host, port), timeout=timeout, source_address=source_address)
        self.buffer = b""
        self.client_port = self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read_line(self) -> bytes | None:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def reply(self) -> tuple[int, list[bytes]]:
        """One reply, multi-line or not: (code, [text of each line])."""
        lines: list[bytes] = []
        while True:
            line = self._read_line()
            if line is None:
                raise EOFError(f"connection closed (partial reply {lines!r}, unparsed {self.buffer!r})")
            assert re.match(rb"^[2-5]\d\d[ -]", line), f"not an SMTP reply line: {line!r}"
            lines.append(line[4:])
            if line[3:4] == b" ":
                code = int(line[:3])
                return code, lines

    def reply1(self) -> tuple[int, bytes]:
        """One single-line reply: (code, text), the shape smtplib gives."""
        code, lines = self.reply()
        assert len(lines) == 1, lines
        return code, lines[0]

    def command(self, line: bytes) -> tuple[int, bytes]:
        self.send(line + b"\r\n")
        return self.reply1()

    def replies_until_eof(self) -> list[tuple[int, bytes]]:
        out = []
        while True:
            try:
                out.append(self.reply1())
            except EOFError:
                return out

    def at_eof(self) -> bool:
        """True when the server has closed: nothing buffered and recv gives b''."""
        if self.buffer:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture
def sinkhole():
    """Starts servers: `server = sinkhole("--mode", "accept")`. All are stopped afterwards.

    A server that exited by itself (crashed) while the test ran fails the test's teardown.
    """
    if not binary_path().exists():
        pytest.fail(f"sinkhole binary not found at {binary_path()} (build it with `make build`)")
    servers: list[SinkholeServer] = []

    def start(*args: str, env: dict[str, str] | None = None, hostname: str = HOSTNAME) -> SinkholeServer:
        full = ["--listen", "127.0.0.1:0", "--log-format", "json", "--hostname", hostname, *args]
        server = SinkholeServer(full, env=env)
        servers.append(server)
        return server

    yield start

    crashed = []
    for server in servers:
        if not server.stopped_on_purpose and server.proc.poll() is not None:
            crashed.append((server.args, server.proc.returncode, server.stderr_lines[-10:]))
        server.stop()
    assert not crashed, f"sinkhole exited during the test: {crashed}"
    for server in servers:
        # With --log-format json every line on stdout is one JSON object.
        unparsed = server.logs(lambda e: e.get("event") == "_unparsed")
        assert not unparsed, f"stdout lines that are not JSON objects: {unparsed[:3]}"


DEFERRED = (421, b"4.3.2 Service temporarily unavailable")
RCPT_OK = (250, b"2.1.5 OK")


def rcpt_reply(server) -> tuple[int, bytes]:
    """The RCPT reply of a new session: what the server's current mode says."""
    client = server.smtp()
    client.ehlo()
    assert client.mail("sender@example.com") == (250, b"2.1.0 OK")
    reply = client.rcpt("rcpt@sinkhole.test")
    client.close()
    return reply


def wait_for_rcpt_reply(server, expected, deadline: float = 5.0) -> float:
    """Polls with new connections until RCPT gets `expected`; returns the seconds it took."""
    start = time.monotonic()
    seen = []
    while time.monotonic() - start < deadline:
        reply = rcpt_reply(server)
        if reply == expected:
            return time.monotonic() - start
        seen.append(reply)
        time.sleep(0.1)
    raise AssertionError(f"RCPT never got {expected} within {deadline}s; got {seen[-3:]}")


def send_while_draining(sock: socket.socket, data: bytes, timeout: float = 60.0) -> bytes:
    """Sends `data` while reading everything the server sends, until it closes.

    Never blocks on a send: when the server has stopped reading (its replies
    are backed up) the only way forward is to read them, so both directions
    are served from one select loop. Fails with a message after `timeout`.
    Returns every byte received.
    """
    sock.setblocking(False)
    deadline = time.monotonic() + timeout
    received = bytearray()
    view = memoryview(data)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(
                f"server did not close within {timeout}s: {len(view)} of {len(data)} bytes unsent,"
                f" {len(received)} received, last {bytes(received[-200:])!r}"
            )
        readable, writable, _ = select.select([sock], [sock] if view else [], [], remaining)
        if writable:
            try:
                view = view[sock.send(view[:1 << 16]):]
            except BlockingIOError:
                pass
        if readable:
            try:
                chunk = sock.recv(1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                break
            received += chunk
    assert not view, f"the server closed with {len(view)} bytes unsent"
    return bytes(received)


def raw_session(server, timeout: float = 10.0) -> "RawClient":
    """A raw client past the greeting and EHLO."""
    client = server.raw(timeout=timeout)
    assert client.reply() == (220, [f"{HOSTNAME} ESMTP sinkhole".encode()])
    client.send(b"EHLO client.test\r\n")
    code, lines = client.reply()
    assert code == 250 and lines[0] == HOSTNAME.encode() and b"PIPELINING" in lines
    return client


def queue_id(reply: tuple[int, bytes]) -> str:
    code, text = reply
    assert code == 250, reply
    match = QUEUE_ID.match(text)
    assert match, f"not a queued reply: {reply!r}"
    return match.group(1).decode()
