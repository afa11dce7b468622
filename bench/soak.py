#!/usr/bin/env python3
"""Soak test for sinkhole (run by bench/soak; Python 3 standard library only).

Starts sinkhole with its mode read from a file (--mode-source file:PATH,
--mode-cache-ttl 1s) and, when the binary has it, the operations listener
(--http-listen 127.0.0.1:PORT). For DURATION it then:

- drives steady load (RATE messages/s, one connection per message, 1 KiB
  bodies) from WORKERS threads;
- switches the mode every SWITCH seconds by rewriting the file (atomically),
  cycling through MODES, whose replies are fixed:
      accept  RCPT 250, DATA 354, end of data 250, QUIT 221
      bounce  RCPT 550, QUIT 221
      defer   RCPT 421, then sinkhole closes the connection
- checks every reply: a session keeps the mode in force when it was
  accepted, and a new mode is seen within the cache TTL, so a reply is
  expected if it belongs to any mode in force between (connect - TTL - SLACK)
  and the RCPT reply; anything else, and any connection error, is unexpected;
- polls /healthz, /readyz and /metrics every second (when available);
- samples the server's RSS (VmRSS) every few seconds.

Goals (exit 1 when one is missed): zero unexpected replies and connection
errors, RSS growth under 5 % from the warm-up point (20 % into the run) to the
end, every admin poll answered, and the server still running at the end.
Everything it starts listens on 127.0.0.1 and is stopped by PID.
"""

import argparse
import collections
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What each mode answers at RCPT TO (the default replies; see --help of sinkhole).
RCPT_CODE = {"accept": 250, "bounce": 550, "defer": 421}
MODE_OF_RCPT_CODE = {code: mode for mode, code in RCPT_CODE.items()}

BODY = b"".join(
    b"Line %04d of the soak message, padded to a fixed length: %s\r\n" % (i, b"x" * 6) for i in range(15)
)[:1024]


def parse_duration(text):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 60, 90s, 10m)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_targets(pid):
    """What each open descriptor is: a path, socket:[inode], anon_inode:[eventpoll]..."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass  # closed while listed
    return targets


def settled_fds(pid, baseline, within=3.0):
    """The descriptor count once it is back at `baseline`, or after `within`
    seconds: a client's close reaches the server a moment after the client
    returns. Also the kinds of descriptor open beyond the baseline, if any."""
    deadline = time.monotonic() + within
    while fd_count(pid) > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
    extra = collections.Counter(re.sub(r"\[\d+\]", "", target) for target in fd_targets(pid))
    return fd_count(pid), extra


def log(message):
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


class ModeTimeline:
    """The modes written to the file, with the (monotonic) time of each write."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.changes = []  # (time, mode), in order

    def write(self, mode):
        temporary = self.path + ".new"
        with open(temporary, "w") as f:
            f.write(mode + "\n")
        with self.lock:
            os.replace(temporary, self.path)  # readers see the old or the new file, never half of one
            self.changes.append((time.monotonic(), mode))

    def modes_between(self, start, end):
        """Every mode in force at some time in [start, end]."""
        with self.lock:
            changes = list(self.changes)
        found = set()
        for i, (since, mode) in enumerate(changes):
            until = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
            if since <= end and until >= start:
                found.add(mode)
        return found


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.replies = collections.Counter()  # "RCPT 250" -> n
        self.sessions_by_mode = collections.Counter()
        self.transactions = 0  # MAIL FROM sent
        self.accepted = 0  # 250 after the final dot
        self.unexpected = 0
        self.errors = 0  # connection errors (refused, reset, timeout)
        self.examples = []  # the first unexpected replies and errors, for the report

    def note(self, kind, text):
        with self.lock:
            if kind == "unexpected":
                self.unexpected += 1
            else:
                self.errors += 1
            if len(self.examples) < 20:
                self.examples.append(f"{kind}: {text}")


class Unexpected(Exception):
    pass


class Session:
    """One SMTP client connection with line-based reply reading."""

    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def reply(self):
        """The next (possibly multi-line) reply: (code, last line), or (None, '') on EOF."""
        while True:
            while b"\r\n" not in self.buffer:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return None, ""
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            if len(text) >= 4 and text[3] == "-":
                continue
            try:
                return int(text[:3]), text
            except ValueError:
                raise Unexpected(f"malformed reply {text!r}")

    def command(self, line):
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def one_message(port, timeline, stats, args, worker, serial):
    """One connection, one transaction; checks every reply."""
    counted = collections.Counter()

    def expect(stage, got, wanted):
        code, text = got
        counted[f"{stage} {code if code is not None else 'EOF'}"] += 1
        if code != wanted:
            raise Unexpected(f"{stage}: wanted {wanted}, got {text or 'EOF'!r}")

    connected_at = time.monotonic()
    try:
        session = Session(port, args.io_timeout)
    except OSError as error:
        stats.note("error", f"connect: {error}")
        return
    try:
        expect("greeting", session.reply(), 220)
        expect("EHLO", session.command(b"EHLO soak.test"), 250)
        with stats.lock:
            stats.transactions += 1
        expect("MAIL", session.command(b"MAIL FROM:<soak-%d@soak.test>" % worker), 250)
        code, text = session.command(b"RCPT TO:<rcpt-%d@sinkhole.test>" % serial)
        answered_at = time.monotonic()
        counted[f"RCPT {code if code is not None else 'EOF'}"] += 1
        allowed = timeline.modes_between(connected_at - args.ttl - args.slack, answered_at)
        mode = MODE_OF_RCPT_CODE.get(code)
        if mode is None or mode not in allowed:
            raise Unexpected(f"RCPT: got {text or 'EOF'!r}; modes in force then: {', '.join(sorted(allowed))}")
        if mode == "accept":
            expect("DATA", session.command(b"DATA"), 354)
            session.sock.sendall(b"Subject: soak %d\r\n\r\n" % serial + BODY + b".\r\n")
            expect("end of data", session.reply(), 250)
            with stats.lock:
                stats.accepted += 1
            expect("QUIT", session.command(b"QUIT"), 221)
        elif mode == "bounce":
            expect("QUIT", session.command(b"QUIT"), 221)
        else:  # defer: 421, then sinkhole closes
            code, text = session.reply()
            if code is not None:
                raise Unexpected(f"after 421: wanted the connection closed, got {text!r}")
        with stats.lock:
            stats.sessions_by_mode[mode] += 1
    except Unexpected as problem:
        stats.note("unexpected", str(problem))
    except OSError as error:
        stats.note("error", f"{error.__class__.__name__}: {error} (after {dict(counted)})")
    finally:
        session.close()
        with stats.lock:
            stats.replies.update(counted)


def load(port, timeline, stats, args, stop):
    """WORKERS threads sending RATE messages/s in total, on a shared schedule."""
    lock = threading.Lock()
    schedule = {"next": time.monotonic(), "serial": 0}
    interval = 1.0 / args.rate

    def worker(number):
        while not stop.is_set():
            with lock:
                now = time.monotonic()
                # Fallen more than a second behind (the machine is busy): do not burst to catch up.
                schedule["next"] = max(schedule["next"], now - 1.0)
                slot = schedule["next"]
                schedule["next"] += interval
                schedule["serial"] += 1
                serial = schedule["serial"]
            delay = slot - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            one_message(port, timeline, stats, args, number, serial)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(args.workers)]
    for thread in threads:
        thread.start()
    return threads


def poll_admin(port, stop, polls, failures, last_metrics):
    """GET /healthz, /readyz and /metrics once a second."""
    while not stop.wait(1.0):
        for path in ("/healthz", "/readyz", "/metrics"):
            status, body = fetch(port, path)
            ok = status == 200 and (path != "/metrics" or "sinkhole_" in body)
            detail = f"HTTP {status}" if status else body
            if ok and path == "/metrics":
                last_metrics["text"] = body
            polls[(path, ok)] += 1
            if not ok and len(failures) < 10:
                failures.append(f"{path}: {detail}")


def fetch(port, path):
    """GET http://127.0.0.1:PORT/PATH: (status, body), or (None, error text)."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        connection.close()
        return response.status, body
    except (OSError, http.client.HTTPException) as error:
        return None, f"{error.__class__.__name__}: {error}"


def replies_from_metrics(text):
    """{"RCPT 250": n, ...} from sinkhole_replies_total{code=...,command=...} samples."""
    found = {}
    for line in text.splitlines():
        match = re.match(r'sinkhole_replies_total\{(.*)\}\s+([0-9.e+]+)$', line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            found[f"{labels.get('command')} {labels.get('code')}"] = int(float(match.group(2)))
    return found


def metric_lines(text, names):
    """The sample lines of the named metrics from a Prometheus text body."""
    return [line for line in text.splitlines()
            if line and not line.startswith("#") and line.split("{")[0].split(" ")[0] in names]


def wait_for_greeting(port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def stop_server(proc):
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        log(f"sinkhole (pid {proc.pid}) ignored SIGTERM for 15 s: SIGKILL")
        proc.kill()
        return proc.wait()


def main():
    parser = argparse.ArgumentParser(
        prog="bench/soak", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--duration", type=parse_duration, default=600.0,
                        help="how long to run: 600 (seconds), 90s, 10m (default: 10m)")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second (default: 200)")
    parser.add_argument("--workers", type=int, default=8, help="client threads (default: 8)")
    parser.add_argument("--switch", type=parse_duration, default=5.0, help="seconds between mode switches (default: 5)")
    parser.add_argument("--modes", default="accept,defer,accept,bounce",
                        help="modes to cycle through, comma-separated (default: accept,defer,accept,bounce)")
    parser.add_argument("--ttl", type=parse_duration, default=1.0, help="sinkhole's --mode-cache-ttl (default: 1s)")
    parser.add_argument("--slack", type=parse_duration, default=0.5,
                        help="allowance beyond the TTL for a switch to be seen (default: 0.5s)")
    parser.add_argument("--rss-interval", type=parse_duration, default=3.0, help="RSS sample period (default: 3s)")
    parser.add_argument("--warmup", type=float, default=0.2,
                        help="fraction of the run after which RSS growth is measured (default: 0.2)")
    parser.add_argument("--max-growth", type=float, default=5.0, help="allowed RSS growth in %% (default: 5)")
    parser.add_argument("--io-timeout", type=float, default=10.0, help="client socket timeout, s (default: 10)")
    parser.add_argument("--out", help="work directory (default: a new /tmp/sinkhole-soak.*)")
    parser.add_argument("--bin", default=os.environ.get("SINKHOLE_BIN", os.path.join(ROOT, ".build/release/sinkhole")),
                        help="the sinkhole binary (default: $SINKHOLE_BIN, else .build/release/sinkhole)")
    args = parser.parse_args()

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in RCPT_CODE]
    if unknown or len(modes) < 2 or any(a == b for a, b in zip(modes, modes[1:] + modes[:1])):
        parser.error(f"--modes: two or more of {', '.join(RCPT_CODE)}, no mode twice in a row")
    if not os.access(args.bin, os.X_OK):
        parser.error(f"no sinkhole binary at {args.bin}: run 'make release' or set SINKHOLE_BIN")

    work = args.out or tempfile.mkdtemp(prefix="sinkhole-soak.", dir="/tmp")
    os.makedirs(work, exist_ok=True)
    help_text = subprocess.run([args.bin, "--help"], capture_output=True, text=True).stdout
    for flag in ("--mode-source", "--mode-cache-ttl"):
        if flag not in help_text:
            sys.exit(f"soak: {args.bin} has no {flag}")
    port = free_port()
    command = [args.bin, "--listen", f"127.0.0.1:{port}", "--hostname", "soak",
               "--mode-source", f"file:{os.path.join(work, 'mode')}", "--mode-cache-ttl", f"{args.ttl:g}s",
               "--log-format", "json", "--log-level", "warning"]
    admin_port = None
    if "--http-listen" in help_text:
        admin_port = free_port()
        while admin_port == port:
            admin_port = free_port()
        command += ["--http-listen", f"127.0.0.1:{admin_port}"]

    timeline = ModeTimeline(os.path.join(work, "mode"))
    timeline.write(modes[0])
    stats = Stats()
    stop = threading.Event()
    polls = collections.Counter()  # (path, ok) -> n
    poll_failures = []  # the first failed polls, for the report
    last_metrics = {"text": ""}
    rss = []  # (seconds since load started, kB)
    proc = None
    interrupted = False

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(signum)

    signal.signal(signal.SIGTERM, on_signal)
    server_log = open(os.path.join(work, "sinkhole.log"), "ab")
    fds_start = fds_end = fd_extra = None
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=server_log, stderr=server_log)
        log(f"sinkhole pid {proc.pid} on 127.0.0.1:{port}; "
            + (f"admin on 127.0.0.1:{admin_port}" if admin_port else
               "this binary has no --http-listen: admin polling SKIPPED")
            + f"; work directory {work}")
        if not wait_for_greeting(port, proc, 15):
            sys.exit(f"soak: sinkhole gave no 220 within 15 s (log: {work}/sinkhole.log)")
        fds_start = fd_count(proc.pid)
        fd_kinds_start = collections.Counter(re.sub(r"\[\d+\]", "", target) for target in fd_targets(proc.pid))
        log(f"load {args.rate:g} msgs/s from {args.workers} threads for {args.duration:g} s; "
            f"mode switched every {args.switch:g} s through {' → '.join(modes)} (TTL {args.ttl:g} s)")
        started = time.monotonic()
        threads = load(port, timeline, stats, args, stop)
        poller = None
        if admin_port:
            poller = threading.Thread(target=poll_admin, args=(admin_port, stop, polls, poll_failures, last_metrics), daemon=True)
            poller.start()
        next_switch, next_sample, next_report, index = started + args.switch, started, started + 10, 0
        end = started + args.duration
        while (now := time.monotonic()) < end:
            if proc.poll() is not None:
                log(f"sinkhole EXITED with {proc.returncode} during the soak")
                break
            if now >= next_switch:
                index += 1
                timeline.write(modes[index % len(modes)])
                next_switch += args.switch
            if now >= next_sample:
                rss.append((now - started, status_kb(proc.pid, "VmRSS")))
                next_sample += args.rss_interval
            if now >= next_report:
                with stats.lock:
                    sent, unexpected, errors = stats.transactions, stats.unexpected, stats.errors
                log(f"  {now - started:5.0f} s: {sent:,} sent ({sent / (now - started):,.0f}/s), "
                    f"{unexpected} unexpected, {errors} errors, RSS {rss[-1][1] / 1024:.1f} MiB, "
                    f"mode {modes[index % len(modes)]}")
                next_report += 10
            time.sleep(max(0.0, min(next_switch, next_sample, next_report, end) - time.monotonic()))
        elapsed = time.monotonic() - started
        alive = proc.poll() is None
        if alive:
            rss.append((elapsed, status_kb(proc.pid, "VmRSS")))
        stop.set()
        for thread in threads:
            thread.join(args.io_timeout + 5)
        if poller:
            poller.join(5)
        time.sleep(1.0)  # the last sessions close
        final_metrics = None
        if admin_port and proc.poll() is None:
            status, body = fetch(admin_port, "/metrics")
            final_metrics = body if status == 200 else None
        fds_end, fd_extra = settled_fds(proc.pid, fds_start) if proc.poll() is None else (None, None)
        if fd_extra is not None:
            fd_extra = fd_extra - fd_kinds_start
        hwm = status_kb(proc.pid, "VmHWM") if proc.poll() is None else None
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
    finally:
        stop.set()
        code = stop_server(proc) if proc else None
        server_log.close()
    if interrupted:
        log(f"interrupted; sinkhole stopped (exit {code}); work directory {work}")
        return 130

    # ------------------------------------------------------------ report
    warm_at = args.warmup * args.duration
    warm = next((kb for t, kb in rss if t >= warm_at), None)
    final = rss[-1][1] if rss else None
    growth = (final - warm) / warm * 100 if warm and final else None
    poll_ok = sum(n for (_, ok), n in polls.items() if ok)
    poll_failed = sum(n for (_, ok), n in polls.items() if not ok)
    lines = [
        f"soak: {elapsed:.0f} s, sinkhole {args.bin} (exit {code} on SIGTERM)",
        f"messages sent (MAIL FROM): {stats.transactions:,} ({stats.transactions / max(elapsed, 1e-9):,.0f}/s, "
        f"target {args.rate:g}/s); accepted with 250 after DATA: {stats.accepted:,}",
        "sessions by mode seen at RCPT: " + ", ".join(f"{m} {n:,}" for m, n in sorted(stats.sessions_by_mode.items())),
        f"mode switches: {len(timeline.changes) - 1} ({' → '.join(modes)}, every {args.switch:g} s)",
        "replies by code: " + ", ".join(f"{k} ×{n:,}" for k, n in sorted(stats.replies.items())),
        f"unexpected replies: {stats.unexpected}; connection errors: {stats.errors}",
    ]
    lines += [f"  {example}" for example in stats.examples]
    if warm is not None:
        lines.append(f"RSS after warm-up ({warm_at:.0f} s): {warm / 1024:.1f} MiB; at end: {final / 1024:.1f} MiB; "
                     f"growth {growth:+.2f} % (goal < {args.max_growth:g} %); "
                     f"min {min(kb for _, kb in rss) / 1024:.1f}, max {max(kb for _, kb in rss) / 1024:.1f} MiB, "
                     f"peak (VmHWM) {hwm / 1024 if hwm else float('nan'):.1f} MiB; {len(rss)} samples")
    else:
        lines.append("RSS: too few samples for a warm-up figure")
    lines.append(f"open fds: {fds_start} after start, {fds_end} at end with no client connected"
                 + (f" (more than at start: {dict(fd_extra)})" if fd_extra else ""))
    if admin_port:
        per_path = ", ".join(
            f"{path} {polls[(path, True)]} ok / {polls[(path, False)]} failed"
            for path in ("/healthz", "/readyz", "/metrics"))
        lines.append(f"admin polls: {poll_ok} ok, {poll_failed} failed ({per_path})")
        lines += [f"  {example}" for example in poll_failures]
        if final_metrics is not None:
            # Informational: do sinkhole's counters agree with what the clients saw?
            counted = replies_from_metrics(final_metrics)
            keys = sorted(k for k in stats.replies if k.startswith("RCPT "))
            keys += ["end_of_data 250"]
            seen = dict(stats.replies, **{"end_of_data 250": stats.accepted})
            pairs = [f"{k} {counted.get(k, 0):,}/{seen.get(k, 0):,}" for k in keys]
            agree = all(counted.get(k, 0) == seen.get(k, 0) for k in keys)
            lines.append("metrics after the load against the clients' count: " + ", ".join(pairs)
                         + (": agree" if agree else ": DISAGREE (informational, not a goal)"))
        wanted = {"sinkhole_connections_total", "sinkhole_connections_active", "sinkhole_messages_total"}
        text = final_metrics if final_metrics is not None else last_metrics["text"]
        lines += [f"  /metrics at the end: {line}" for line in metric_lines(text, wanted)[:12]]
    else:
        lines.append("admin polls: SKIPPED (this binary has no --http-listen)")

    missed = []
    if stats.unexpected or stats.errors:
        missed.append(f"{stats.unexpected} unexpected replies and {stats.errors} connection errors (goal 0)")
    if growth is None or growth >= args.max_growth:
        missed.append(f"RSS growth {'unknown' if growth is None else f'{growth:.2f} %'} (goal < {args.max_growth:g} %)")
    if admin_port and (poll_failed or not poll_ok):
        missed.append(f"{poll_failed} admin polls failed")
    if fds_end is not None and fds_end > fds_start:
        missed.append(f"{fds_end - fds_start} descriptors more at the end than at start: {dict(fd_extra or {})}")
    if not alive:
        missed.append("sinkhole exited during the soak")
    if stats.transactions == 0:
        missed.append("no message was sent")
    lines.append("RESULT: " + ("all goals met" if not missed else "MISSED: " + "; ".join(missed)))
    print("\n".join(lines))
    with open(os.path.join(work, "soak.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(work, "soak.json"), "w") as f:
        json.dump({"elapsed_s": round(elapsed, 1), "sent": stats.transactions, "accepted": stats.accepted,
                   "replies": dict(stats.replies), "unexpected": stats.unexpected, "errors": stats.errors,
                   "rss_kb": rss, "rss_growth_pct": growth, "polls_ok": poll_ok, "polls_failed": poll_failed,
                   "admin": bool(admin_port), "fds_start": fds_start, "fds_end": fds_end,
                   "fds_extra": dict(fd_extra or {}),
                   "missed": missed}, f, indent=1)
    log(f"work directory: {work}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
