"""Postfix's smtp-sink and sinkhole side by side: the same fault switches, the same client, the same answers.

Each case starts the real `smtp-sink` with one of its fault switches and
sinkhole with the flag that copies it, drives both with the same script of
commands over a raw socket, and checks:

- smtp-sink gives what the table says (so the table documents smtp-sink, see
  docs/smtp-sink-behaviour.md);
- sinkhole gives the same reply codes, and the same connection state after
  every step: the session goes on, or the connection closes without a reply,
  or it closes after a 421. A close is a close whether it is a FIN or a reset
  (smtp-sink resets when unread input is left in its socket).

Faulted replies (the hard/soft reject texts and the 421) must match smtp-sink
byte for byte; normal replies have sinkhole's own texts, so they are compared
by code (or by class, where RFC 5321 allows either code).

| smtp-sink | sinkhole |
| --- | --- |
| `-f CMDS`, `-B TEXT` | `--hard-reject CMDS`, `--hard-reply TEXT` |
| `-r CMDS`, `-b TEXT` | `--soft-reject CMDS`, `--soft-reply TEXT` |
| `-q CMDS` | `--disconnect CMDS` |
| `-Q CMDS` | `--close CMDS` |
| `-W CMD:S[:ODDS]` | `--delay CMD:S[:ODDS]` |
| `-w S` | `--data-delay S` |
| `-H S` | `--data-read-delay S` |
| `-A S` | `--abort-data-after S` |

The tests skip when smtp-sink is not installed (`make deps` installs Postfix).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from conftest import CLIENT_NAME, RawClient

SMTP_SINK = shutil.which("smtp-sink") or next(
    (p for p in ("/usr/sbin/smtp-sink", "/usr/bin/smtp-sink") if os.access(p, os.X_OK)), None
)
SINK_HOSTNAME = "sink.test"

# What smtp-sink sends for a faulted command; sinkhole copies these texts.
HARD = b"500 5.3.0 Error: command failed"
SOFT = b"450 4.3.0 Error: command failed"
CLOSING = b"421 4.0.0 Server closing connection"

DELAY = 1  # seconds, for every delay switch
DELAY_MIN, DELAY_MAX = 0.9, 5.0  # generous bounds for a reply that waits DELAY seconds
IO_TIMEOUT = 10.0  # every socket operation of a test
START_TIMEOUT = 10.0

BODY = b"Subject: side by side\r\n\r\nhello\r\n."


# -- the script language --------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One client step and what smtp-sink answers to it.

    `line` is sent with CRLF; None sends nothing and only reads (the greeting,
    or a reply the server sends by itself). `want` is smtp-sink's reply code,
    None when it closes the connection without a reply. `text`, when given, is
    smtp-sink's exact reply line. `match` says how sinkhole's reply must match
    smtp-sink's: "text" (byte for byte), "code" or "class" (first digit).
    `late`, when given, says the reply must come DELAY seconds after the send
    of the step `late` steps back (0: this step; a read-only step's "send" is
    the moment it starts reading). `pipelining`, for an EHLO, says whether the
    reply advertises PIPELINING.
    """

    line: bytes | None
    want: int | None
    match: str = "code"
    text: bytes | None = None
    late: int | None = None
    pipelining: bool | None = None

    def __str__(self) -> str:
        return "(greeting or read)" if self.line is None else self.line.split(b"\r\n")[0].decode()


def faulted(step: Step, text: bytes) -> Step:
    """`step` answered with a fault reply that sinkhole must copy byte for byte."""
    return replace(step, want=int(text[:3]), text=text, match="text")


def dropped(step: Step) -> Step:
    """`step` answered by closing the connection without a reply."""
    return replace(step, want=None, text=None, match="code")


GREETING = Step(None, 220)
HELO = Step(f"HELO {CLIENT_NAME}".encode(), 250)
MAIL = Step(b"MAIL FROM:<sender@example.com>", 250)
RCPT = Step(b"RCPT TO:<rcpt@sinkhole.test>", 250)
DATA = Step(b"DATA", 354)
END_OF_DATA = Step(BODY, 250)  # the message content and its terminating "."
RSET = Step(b"RSET", 250)
NOOP = Step(b"NOOP", 250)
VRFY = Step(b"VRFY rcpt@sinkhole.test", 250, match="class")  # smtp-sink 250, sinkhole 252
QUIT = Step(b"QUIT", 221)
READ = Step(None, None)  # read what the server sends by itself


def ehlo(pipelining: bool) -> Step:
    return Step(f"EHLO {CLIENT_NAME}".encode(), 250, pipelining=pipelining)


# The step that sends each command of smtp-sink's command table.
COMMAND_STEP = {
    "CONNECT": GREETING, "HELO": HELO, "EHLO": ehlo(True), "MAIL": MAIL, "RCPT": RCPT,
    "DATA": DATA, ".": END_OF_DATA, "RSET": RSET, "NOOP": NOOP, "VRFY": VRFY, "QUIT": QUIT,
}


def lead_up(command: str, pipelining: bool) -> tuple[Step, ...]:
    """The steps that bring a session to the point where `command` is sent."""
    e = ehlo(pipelining)
    return {
        "CONNECT": (),
        "HELO": (GREETING,),
        "EHLO": (GREETING,),
        "MAIL": (GREETING, e),
        "RCPT": (GREETING, e, MAIL),
        "DATA": (GREETING, e, MAIL, RCPT),
        ".": (GREETING, e, MAIL, RCPT, DATA),
        "RSET": (GREETING, e, MAIL),
        "NOOP": (GREETING, e),
        "VRFY": (GREETING, e),
        "QUIT": (GREETING, e),
    }[command]


def after_reject(command: str, pipelining: bool) -> tuple[Step, ...]:
    """What the session does after `command` got a 4xx/5xx fault reply: it goes on."""
    e = ehlo(pipelining)
    return {
        "CONNECT": (e, NOOP),  # a rejected greeting does not end the session
        "HELO": (NOOP, e),
        "EHLO": (NOOP, HELO),
        "MAIL": (replace(RCPT, want=503), NOOP),  # no transaction was started
        # No recipient was accepted: smtp-sink says 503, RFC 5321 also allows 554.
        "RCPT": (replace(DATA, want=503, match="class"), NOOP),
        "DATA": (NOOP, RSET),  # still in command mode: the client sends no content
        ".": (MAIL, NOOP),  # the transaction is over: a new MAIL is accepted
        "RSET": (NOOP,),
        "NOOP": (RSET,),
        "VRFY": (NOOP,),
        "QUIT": (NOOP,),  # a rejected QUIT does not end the session
    }[command]


@dataclass(frozen=True)
class Case:
    id: str
    sink_args: tuple[str, ...]  # smtp-sink's switches
    sinkhole_args: tuple[str, ...]  # sinkhole's flags that copy them
    steps: tuple[Step, ...]
    closes: bool = False  # the server closes the connection after the last step
    # Where sinkhole differs on purpose (docs/faults.md, "smtp-sink's switches"):
    # the steps as sinkhole answers them, checked instead of the comparison.
    sinkhole_steps: tuple[Step, ...] | None = None

    def __str__(self) -> str:
        return self.id


def reject_case(kind: str, command: str) -> Case:
    sink_flag, sinkhole_flag, text = {"hard": ("-f", "--hard-reject", HARD), "soft": ("-r", "--soft-reject", SOFT)}[kind]
    # -f and -r withdraw PIPELINING from EHLO, whatever commands they name.
    steps = (
        *lead_up(command, pipelining=False),
        faulted(COMMAND_STEP[command], text),
        *after_reject(command, pipelining=False),
    )
    return Case(f"{sink_flag} {command}", (sink_flag, command), (sinkhole_flag, command), steps)


def disconnect_case(command: str) -> Case:
    steps = (*lead_up(command, pipelining=True), dropped(COMMAND_STEP[command]))
    return Case(f"-q {command}", ("-q", command), ("--disconnect", command), steps, closes=True)


def close_case(command: str) -> Case:
    steps = (*lead_up(command, pipelining=True), faulted(COMMAND_STEP[command], CLOSING))
    return Case(f"-Q {command}", ("-Q", command), ("--close", command), steps, closes=True)


ALL_COMMANDS = ("CONNECT", "HELO", "EHLO", "MAIL", "RCPT", "DATA", ".", "RSET", "NOOP", "VRFY", "QUIT")
CLOSE_COMMANDS = ("CONNECT", "EHLO", "MAIL", "RCPT", "DATA", ".", "QUIT")
D = str(DELAY)

CASES = [
    # No switch: smtp-sink's normal replies, by code (sinkhole has its own texts).
    Case(
        "no switch",
        (),
        (),
        (GREETING, ehlo(True), HELO, MAIL, RCPT, DATA, END_OF_DATA, RSET, NOOP, VRFY, QUIT),
        closes=True,
    ),
    # -f / -r: the command gets the hard/soft reply and has no effect; the session goes on.
    *(reject_case("hard", c) for c in ALL_COMMANDS),
    *(reject_case("soft", c) for c in ALL_COMMANDS),
    # Custom reply texts (-B / -b): the whole line, code included.
    Case(
        "-B TEXT -f MAIL",
        ("-B", "554 5.7.1 Go away", "-f", "MAIL"),
        ("--hard-reply", "554 5.7.1 Go away", "--hard-reject", "MAIL"),
        (GREETING, ehlo(False), faulted(MAIL, b"554 5.7.1 Go away"), NOOP),
    ),
    Case(
        "-b TEXT -r VRFY,.",
        ("-b", "451 4.7.1 Try later", "-r", "VRFY,."),
        ("--soft-reply", "451 4.7.1 Try later", "--soft-reject", "VRFY,."),
        (
            GREETING, ehlo(False), faulted(VRFY, b"451 4.7.1 Try later"),
            MAIL, RCPT, DATA, faulted(END_OF_DATA, b"451 4.7.1 Try later"), NOOP,
        ),
    ),
    # Command lists: comma or space separated, any case.
    Case(
        "-f 'rcpt, noop' -r vrfy",
        ("-f", "rcpt, noop", "-r", "vrfy"),
        ("--hard-reject", "rcpt, noop", "--soft-reject", "vrfy"),
        (GREETING, ehlo(False), MAIL, faulted(RCPT, HARD), faulted(NOOP, HARD), faulted(VRFY, SOFT), RSET),
    ),
    # smtp-sink gives a faulted command its fault reply before any sequence
    # check: RCPT after a rejected MAIL gets -f's text. sinkhole checks the
    # sequence first (its layers: sequence errors, then rules), so that RCPT
    # gets 503 5.5.1: a documented difference.
    Case(
        "-f 'MAIL RCPT'",
        ("-f", "MAIL RCPT"),
        ("--hard-reject", "MAIL RCPT"),
        (GREETING, ehlo(False), faulted(MAIL, HARD), faulted(RCPT, HARD), NOOP),
        sinkhole_steps=(GREETING, ehlo(False), faulted(MAIL, HARD),
                        replace(RCPT, want=503, text=b"503 5.5.1 Need MAIL command", match="text"), NOOP),
    ),
    # -q: close without a reply. -Q: 421, then close. -q/-Q leave PIPELINING.
    *(disconnect_case(c) for c in CLOSE_COMMANDS),
    *(close_case(c) for c in CLOSE_COMMANDS),
    # One command under several switches: -q before -Q before -f before -r.
    Case(
        "-Q MAIL -f MAIL",
        ("-Q", "MAIL", "-f", "MAIL"),
        ("--close", "MAIL", "--hard-reject", "MAIL"),
        (GREETING, ehlo(False), faulted(MAIL, CLOSING)),
        closes=True,
    ),
    Case(
        "-q MAIL -Q MAIL",
        ("-q", "MAIL", "-Q", "MAIL"),
        ("--disconnect", "MAIL", "--close", "MAIL"),
        (GREETING, ehlo(True), dropped(MAIL)),
        closes=True,
    ),
    # -W CMD:S: wait S seconds before answering CMD (input is not read meanwhile).
    Case(
        "-W CONNECT:1",
        ("-W", f"CONNECT:{D}"),
        ("--delay", f"CONNECT:{D}"),
        (replace(GREETING, late=0), ehlo(True), NOOP),
    ),
    Case(
        "-W MAIL:1",
        ("-W", f"MAIL:{D}"),
        ("--delay", f"MAIL:{D}"),
        (GREETING, ehlo(True), replace(MAIL, late=0), RCPT, NOOP),
    ),
    Case(
        "-W .:1",
        ("-W", f".:{D}"),
        ("--delay", f".:{D}"),
        (GREETING, ehlo(True), MAIL, RCPT, DATA, replace(END_OF_DATA, late=0), NOOP),
    ),
    Case(
        "-W QUIT:1",
        ("-W", f"QUIT:{D}"),
        ("--delay", f"QUIT:{D}"),
        (GREETING, ehlo(True), replace(QUIT, late=0)),
        closes=True,
    ),
    # -w S: -W DATA:S.
    Case(
        "-w 1",
        ("-w", D),
        ("--data-delay", D),
        (GREETING, ehlo(True), MAIL, RCPT, replace(DATA, late=0), END_OF_DATA, NOOP),
    ),
    # -H S: the 354 goes at once, the content is not read for S seconds, so the
    # end-of-data reply comes S seconds after DATA at the earliest.
    Case(
        "-H 1",
        ("-H", D),
        ("--data-read-delay", D),
        (GREETING, ehlo(True), MAIL, RCPT, DATA, replace(END_OF_DATA, late=1), NOOP),
    ),
    # -A S: 354, then nothing is read; S seconds later a 550 and the connection closes.
    Case(
        "-A 1, client waits",
        ("-A", D),
        ("--abort-data-after", D),
        (GREETING, ehlo(True), MAIL, RCPT, DATA, replace(READ, want=550, late=1)),
        closes=True,
    ),
    Case(
        "-A 1, client sends the content",
        ("-A", D),
        ("--abort-data-after", D),
        (GREETING, ehlo(True), MAIL, RCPT, DATA, replace(END_OF_DATA, want=550, late=1)),
        closes=True,
    ),
    # -H with -A: nothing is read after the 354 either way, so -A's clock decides.
    Case(
        "-H 1 -A 1, client sends the content",
        ("-H", D, "-A", D),
        ("--data-read-delay", D, "--abort-data-after", D),
        (GREETING, ehlo(True), MAIL, RCPT, DATA, replace(END_OF_DATA, want=550, late=1)),
        closes=True,
    ),
]


# -- driving a server --------------------------------------------------------------


@dataclass
class Seen:
    """What the client saw at one step: a reply, or the connection closed (`code` None)."""

    code: int | None
    lines: list[bytes] = field(default_factory=list)
    sent_at: float = 0.0
    got_at: float = 0.0

    def describe(self) -> str:
        if self.code is None:
            return "closed without a reply"
        return " / ".join(f"{self.code} {line.decode(errors='replace')}" for line in self.lines)


def read_reply(client: RawClient, where: str) -> tuple[int | None, list[bytes]]:
    """The next reply, or (None, []) when the server closed (FIN or reset)."""
    try:
        return client.reply()
    except EOFError:
        assert not client.buffer, f"{where}: closed after a partial line {client.buffer!r}"
        return None, []
    except ConnectionResetError:
        return None, []
    except TimeoutError:
        raise AssertionError(f"{where}: no reply within {client.sock.gettimeout()}s") from None


def assert_closes(client: RawClient, where: str) -> None:
    try:
        closed = client.at_eof()
    except TimeoutError:
        raise AssertionError(f"{where}: the connection is still open {client.sock.gettimeout()}s later") from None
    assert closed, f"{where}: expected the connection to close, got more bytes"


def drive(name: str, host: str, port: int, case: Case) -> list[Seen]:
    """Runs the case's steps against one server; stops at the first close."""
    seen: list[Seen] = []
    connect_at = time.monotonic()
    client = RawClient(host, port, timeout=IO_TIMEOUT)
    try:
        for index, step in enumerate(case.steps):
            where = f"{name}, {case.id}, step {index} {step}"
            sent_at = connect_at if index == 0 else time.monotonic()
            if step.line is not None:
                try:
                    client.send(step.line + b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    seen.append(Seen(None, [], sent_at, time.monotonic()))
                    break
            code, lines = read_reply(client, where)
            seen.append(Seen(code, lines, sent_at, time.monotonic()))
            if code is None:
                break
        else:
            if case.closes:
                assert_closes(client, f"{name}, {case.id}, after the last step")
    finally:
        client.close()
    return seen


def check_against_table(name: str, case: Case, seen: list[Seen]) -> None:
    """What `name` did is what the table says smtp-sink does."""
    got = [s.describe() for s in seen]
    assert len(seen) == len(case.steps), f"{name}, {case.id}: closed early; saw {got}"
    for index, (step, s) in enumerate(zip(case.steps, seen)):
        where = f"{name}, {case.id}, step {index} {step}: saw {got}"
        assert s.code == step.want, where
        if step.text is not None:
            assert s.lines == [step.text[4:]], where
        check_timing_and_keywords(name, case, seen, index)


def check_timing_and_keywords(name: str, case: Case, seen: list[Seen], index: int) -> None:
    step, s = case.steps[index], seen[index]
    where = f"{name}, {case.id}, step {index} {step}"
    if step.late is not None:
        waited = s.got_at - seen[index - step.late].sent_at
        assert DELAY_MIN <= waited < DELAY_MAX, f"{where}: reply after {waited:.2f}s, want about {DELAY}s"
    if step.pipelining is not None and s.code == 250:
        assert (b"PIPELINING" in s.lines) == step.pipelining, f"{where}: EHLO says {s.lines}"


def check_same(case: Case, sink: list[Seen], hole: list[Seen]) -> None:
    """sinkhole saw what smtp-sink saw, step by step, as each step's `match` says."""
    sink_got, hole_got = [s.describe() for s in sink], [s.describe() for s in hole]
    context = f"{case.id}:\n  smtp-sink: {sink_got}\n  sinkhole:  {hole_got}"
    for index, (step, a, b) in enumerate(zip(case.steps, sink, hole)):
        where = f"step {index} {step} of {context}"
        if a.code is None or b.code is None:
            assert a.code == b.code, f"connection state differs at {where}"
        elif step.match == "text":
            assert (a.code, a.lines) == (b.code, b.lines), f"fault reply text differs at {where}"
        elif step.match == "class":
            assert a.code // 100 == b.code // 100, f"reply class differs at {where}"
        else:
            assert a.code == b.code, f"reply code differs at {where}"
        check_timing_and_keywords("sinkhole", case, hole, index)
    assert len(sink) == len(hole), f"connection state differs: {context}"


# -- smtp-sink ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on 127.0.0.1:port (or any address), from /proc/net/tcp."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, state, inode = fields[1], fields[3], fields[9]
        ip, _, hex_port = address.partition(":")
        if state == "0A" and int(hex_port, 16) == port and ip in ("0100007F", "00000000"):
            inodes.add(inode)
    return inodes


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fd_dir.iterdir())
    except FileNotFoundError:
        return inodes
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


class SmtpSink:
    """One smtp-sink process listening on 127.0.0.1:port."""

    def __init__(self, args: tuple[str, ...], log: Path):
        self.host = "127.0.0.1"
        self.log = log
        for _attempt in range(5):
            self.port = free_port()
            # Root must name a user to switch to; anyone else must not.
            user = ["-u", "nobody"] if os.geteuid() == 0 else []
            self.args = [SMTP_SINK, *user, "-h", SINK_HOSTNAME, *args, f"{self.host}:{self.port}", "10"]
            with open(log, "ab") as out:
                self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            if self._wait_listening():
                return
            # Another process took the port between free_port() and smtp-sink's bind: try another.
        raise AssertionError(f"smtp-sink never listened: {self.args}: {self.log_tail()}")

    def _wait_listening(self) -> bool:
        """True once smtp-sink's own socket listens on the port; False if it exited because the port was taken."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "in use" in self.log_tail():
                    return False
                raise AssertionError(f"smtp-sink exited with {self.proc.returncode}: {self.args}: {self.log_tail()}")
            if listening_inodes(self.port) & socket_inodes(self.proc.pid):
                return True
            time.sleep(0.02)
        self.stop()
        raise AssertionError(f"smtp-sink not listening on port {self.port} within {START_TIMEOUT}s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-800:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; by PID."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def smtp_sink(tmp_path):
    """Starts smtp-sink processes: `sink = smtp_sink("-f", "MAIL")`. All are stopped afterwards."""
    if SMTP_SINK is None:
        pytest.skip("smtp-sink (Postfix) is not installed: `make deps` installs it")
    sinks: list[SmtpSink] = []

    def start(*args: str) -> SmtpSink:
        sink = SmtpSink(args, tmp_path / f"smtp-sink-{len(sinks)}.log")
        sinks.append(sink)
        return sink

    yield start

    for sink in sinks:
        sink.stop()


# -- the tests ----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_sinkhole_answers_like_smtp_sink(case, smtp_sink, sinkhole):
    sink = smtp_sink(*case.sink_args)
    sink_seen = drive("smtp-sink", sink.host, sink.port, case)
    check_against_table("smtp-sink", case, sink_seen)

    hole = sinkhole("--mode", "accept", *case.sinkhole_args)
    if case.sinkhole_steps is not None:
        own = replace(case, steps=case.sinkhole_steps)
        check_against_table("sinkhole", own, drive("sinkhole", hole.host, hole.port, own))
        return
    hole_seen = drive("sinkhole", hole.host, hole.port, case)
    check_same(case, sink_seen, hole_seen)


def test_delay_odds_wait_a_whole_multiple_of_the_delay(smtp_sink, sinkhole):
    """-W NOOP:1:20: each NOOP waits k seconds, k the number of dice rolls (0..99) below 20
    before the first at or above it; k is often 0. P(k >= n) = 0.2**n: k >= 14 (past the
    client's 15 s timeout) has a chance of 2e-10. smtp-sink never seeds its dice, so its
    waits are the same in every run (0, 0, 0, 0, 0, 1 s); sinkhole's may vary."""
    odds = 20
    noops = 6

    def delays(host: str, port: int, name: str) -> list[float]:
        client = RawClient(host, port, timeout=15.0)
        try:
            assert read_reply(client, f"{name}, greeting")[0] == 220
            client.send(b"EHLO " + CLIENT_NAME.encode() + b"\r\n")
            assert read_reply(client, f"{name}, EHLO")[0] == 250
            out = []
            for n in range(noops):
                sent_at = time.monotonic()
                client.send(b"NOOP\r\n")
                code, lines = read_reply(client, f"{name}, NOOP {n}")
                assert code == 250, (name, n, code, lines)
                out.append(time.monotonic() - sent_at)
            return out
        finally:
            client.close()

    def check(name: str, waited: list[float]) -> None:
        for n, seconds in enumerate(waited):
            multiple = round(seconds / DELAY)
            assert multiple * DELAY - 0.1 <= seconds < multiple * DELAY + 0.5, (
                f"{name}: NOOP {n} answered after {seconds:.2f}s, not a whole multiple of {DELAY}s: {waited}"
            )

    sink = smtp_sink("-W", f"NOOP:{DELAY}:{odds}")
    check("smtp-sink", delays(sink.host, sink.port, "smtp-sink"))
    hole = sinkhole("--mode", "accept", "--delay", f"NOOP:{DELAY}:{odds}")
    check("sinkhole", delays(hole.host, hole.port, "sinkhole"))
