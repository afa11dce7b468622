#!/usr/bin/env python3
"""Measuring helpers for bench/run (Python 3 standard library only).

  freeport                       print a free loopback TCP port
  launch  --port P --pidfile F --log F [--timeout S] -- ARGV...
                                 start a server, wait for its first 220 greeting
                                 on a connect loop, print JSON {pid, start_ms, rss_kb}
  measure --pid PID --msgs M --stderr F [--timeout S] -- SMTP-SOURCE ARGV...
                                 run one load generator, print JSON with wall time,
                                 msgs/s and the server's CPU per message
  proc    --pid PID              print JSON {rss_kb, hwm_kb, cpu_ticks}
  resethwm --pid PID             reset the process's peak RSS (VmHWM)
  machine                        print JSON {busy_pct (over 1 s), load1, load5}
  table   RESULTS.jsonl          print the markdown tables from the recorded results

Server CPU is utime+stime of the whole process (every thread) from
/proc/PID/stat, before and after the run, the same way for both servers.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def read_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def rss_kb(pid):
    return int(read_status(pid)["VmRSS"].split()[0])


def hwm_kb(pid):
    return int(read_status(pid)["VmHWM"].split()[0])


def cpu_split(pid):
    """(utime, stime) in clock ticks, every thread of the process."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces: fields count from after its ')'.
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]), int(rest[12])  # fields 14 and 15


def cpu_ticks(pid):
    return sum(cpu_split(pid))


def machine_ticks():
    """(busy, total) jiffies over all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return total - idle, total


def loadavg():
    with open("/proc/loadavg") as f:
        parts = f.read().split()
    return float(parts[0]), float(parts[1])


def cmd_freeport(_args):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def parse_opts(argv, names):
    """--name value pairs up to '--'; returns (dict, rest)."""
    opts, i = {}, 0
    while i < len(argv) and argv[i] != "--":
        name = argv[i].lstrip("-")
        if name not in names or i + 1 >= len(argv):
            sys.exit(f"smtpbench: unexpected argument {argv[i]!r}")
        opts[name] = argv[i + 1]
        i += 2
    return opts, argv[i + 1:]


def greeting(port, timeout):
    """Connects once; returns True on a 220 greeting."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            data = b""
            while b"\n" not in data:
                chunk = s.recv(512)
                if not chunk:
                    return False
                data += chunk
            return data.startswith(b"220")
    except OSError:
        return False


def cmd_launch(argv):
    opts, command = parse_opts(argv, {"port", "pidfile", "log", "timeout"})
    port, timeout = int(opts["port"]), float(opts.get("timeout", "10"))
    log = open(opts["log"], "ab")
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    with open(opts["pidfile"], "w") as f:
        f.write(f"{proc.pid}\n")
    deadline = start + timeout
    while True:
        if greeting(port, 1.0):
            elapsed = (time.perf_counter() - start) * 1000
            break
        if proc.poll() is not None:
            sys.exit(f"smtpbench: {command[0]} exited with {proc.returncode} before greeting (log: {opts['log']})")
        if time.perf_counter() > deadline:
            sys.exit(f"smtpbench: no 220 on port {port} within {timeout} s (log: {opts['log']})")
        time.sleep(0.0005)
    time.sleep(0.5)  # let start-up allocations settle before the idle RSS
    print(json.dumps({"pid": proc.pid, "start_ms": round(elapsed, 1), "rss_kb": rss_kb(proc.pid)}))
    # The server outlives this helper; bench/run stops it by the PID in the pidfile.


def cmd_measure(argv):
    opts, command = parse_opts(argv, {"pid", "msgs", "stderr", "timeout"})
    pid, msgs = int(opts["pid"]), int(opts["msgs"])
    timeout = float(opts.get("timeout", "120"))
    load1, _ = loadavg()
    with open(opts["stderr"], "wb") as err:
        busy0, total0 = machine_ticks()
        user0, sys0 = cpu_split(pid)
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        fired = threading.Event()

        def kill():
            fired.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        timed_out = fired.is_set()
        wall = time.perf_counter() - start
        time.sleep(0.2)  # the server's last closes belong to this run
        user1, sys1 = cpu_split(pid)
        busy1, total1 = machine_ticks()
    with open(opts["stderr"], "rb") as f:
        stderr_lines = f.read().count(b"\n")
    server_s = (user1 - user0 + sys1 - sys0) / CLK_TCK
    source_s = usage.ru_utime + usage.ru_stime
    machine_busy_s = (busy1 - busy0) / CLK_TCK
    result = {
        "rc": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
        "msgs": msgs,
        "wall_s": round(wall, 3),
        "msgs_per_s": round(msgs / wall, 1),
        "server_cpu_s": round(server_s, 2),
        "server_cpu_us_per_msg": round(server_s / msgs * 1e6, 1),
        "server_user_us_per_msg": round((user1 - user0) / CLK_TCK / msgs * 1e6, 1),
        "server_sys_us_per_msg": round((sys1 - sys0) / CLK_TCK / msgs * 1e6, 1),
        "source_cpu_s": round(source_s, 2),
        # Everything else the machine did meanwhile: softirq network work,
        # kernel threads, and any other process (a compiler would show here).
        "rest_cpu_s": round(machine_busy_s - server_s - source_s, 2),
        "machine_busy_pct": round(100 * (busy1 - busy0) / max(1, total1 - total0) * os.cpu_count(), 1),
        "load1": load1,
        "stderr_lines": stderr_lines,
    }
    # Another process took CPU meanwhile (a compiler, say): the run is not to be trusted.
    result["disturbed"] = result["rest_cpu_s"] > max(0.15, 0.1 * wall)
    print(json.dumps(result))


def cmd_proc(argv):
    opts, _ = parse_opts(argv, {"pid"})
    pid = int(opts["pid"])
    print(json.dumps({"rss_kb": rss_kb(pid), "hwm_kb": hwm_kb(pid), "cpu_ticks": cpu_ticks(pid)}))


def cmd_resethwm(argv):
    opts, _ = parse_opts(argv, {"pid"})
    # "5" resets the peak RSS (Linux >= 4.0; root or the process's owner).
    with open(f"/proc/{opts['pid']}/clear_refs", "w") as f:
        f.write("5")


def cmd_machine(_argv):
    busy0, total0 = machine_ticks()
    time.sleep(1.0)
    busy1, total1 = machine_ticks()
    load1, load5 = loadavg()
    busy = 100 * (busy1 - busy0) / max(1, total1 - total0) * os.cpu_count()
    print(json.dumps({"busy_pct": round(busy, 1), "load1": load1, "load5": load5}))


# ---------------------------------------------------------------- table

def fmt_rate(value):
    return "—" if value is None else f"{value:,.0f}"


def fmt_mib(kb):
    return "—" if kb is None else f"{kb / 1024:.1f} MiB"


def cmd_table(argv):
    records = [json.loads(line) for line in open(argv[0]) if line.strip()]
    runs, peaks, scenarios, notes = {}, {}, [], {}
    for r in records:
        if r.get("type") == "scenario":
            scenarios.append(r)
            notes[r["id"]] = r.get("note", "")
        elif r.get("type") == "run":
            runs.setdefault((r["scenario"], r["server"]), []).append(r)
        elif r.get("type") == "peak":
            key = (r["scenario"], r["server"])
            peaks[key] = max(peaks.get(key, 0), r["hwm_kb"])

    def good(key):
        """Successful runs; undisturbed ones if there are any."""
        ok = [r for r in runs.get(key, []) if r["rc"] == 0 and not r["timed_out"]]
        calm = [r for r in ok if not r.get("disturbed")]
        return calm or ok

    def median(key, field):
        values = [r[field] for r in good(key) if field in r]
        return statistics.median(values) if values else None

    print("| scenario | sinkhole msgs/s | smtp-sink msgs/s | ratio | sinkhole CPU µs/msg "
          "| smtp-sink CPU µs/msg | sinkhole peak RSS | smtp-sink peak RSS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in scenarios:
        sid = s["id"]
        a, b = (sid, "sinkhole"), (sid, "smtp-sink")
        ra, rb = median(a, "msgs_per_s"), median(b, "msgs_per_s")
        ca, cb = median(a, "server_cpu_us_per_msg"), median(b, "server_cpu_us_per_msg")
        ratio = f"{ra / rb:.2f}×" if ra and rb else "—"
        n = min(len(good(a)), len(good(b)))
        cpu = lambda v: "—" if v is None else f"{v:,.0f}"
        label = s["label"] + (f" (median of {n})" if n > 1 else "")
        print(f"| {label} | {fmt_rate(ra)} | {fmt_rate(rb)} | {ratio} | {cpu(ca)} | {cpu(cb)} "
              f"| {fmt_mib(peaks.get(a))} | {fmt_mib(peaks.get(b))} |")

    # Failed or timed-out runs, and the interference seen during each scenario.
    print()
    print("| scenario | server | runs ok (disturbed) / all | server CPU µs/msg user + system (median) "
          "| load1 at start | machine busy during run (of 200 %) "
          "| rest CPU s (softirq, other processes) | smtp-source stderr lines |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in scenarios:
        for server in ("sinkhole", "smtp-sink"):
            rs = runs.get((s["id"], server), [])
            if not rs:
                continue
            ok = sum(1 for r in rs if r["rc"] == 0 and not r["timed_out"])
            disturbed = sum(1 for r in rs if r.get("disturbed"))
            loads = "/".join(f"{r['load1']:.2f}" for r in rs)
            busy = "/".join(f"{r['machine_busy_pct']:.0f}" for r in rs)
            rest = "/".join(f"{r['rest_cpu_s']:.2f}" for r in rs)
            errs = "/".join(str(r["stderr_lines"]) for r in rs)
            key = (s["id"], server)
            us, sy = median(key, "server_user_us_per_msg"), median(key, "server_sys_us_per_msg")
            split = "—" if us is None else f"{us:,.0f} + {sy:,.0f}"
            print(f"| {s['label']} | {server} | {ok} ({disturbed}) / {len(rs)} | {split} | {loads} | {busy} | {rest} | {errs} |")

    starts = [r for r in records if r.get("type") == "start"]
    idles = [r for r in records if r.get("type") == "idle"]
    print()
    print("| memory and start | sinkhole | smtp-sink |")
    print("| --- | ---: | ---: |")

    def by_server(rows, server):
        return [r for r in rows if r["server"] == server]

    for server_rows, label, field, fmt in (
        (starts, "idle RSS at start (median over every start)", "rss_kb", fmt_mib),
        (starts, "start to first 220 greeting (median)", "start_ms", lambda v: f"{v:.1f} ms"),
    ):
        cells = []
        for server in ("sinkhole", "smtp-sink"):
            values = [r[field] for r in by_server(server_rows, server)]
            cells.append(fmt(statistics.median(values)) if values else "—")
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    for requested in sorted({r.get("requested", r["target"]) for r in idles}):
        cells, held_counts = {}, set()
        for server in ("sinkhole", "smtp-sink"):
            rows = [r for r in idles if r["server"] == server and r.get("requested", r["target"]) == requested]
            if not rows:
                cells[server] = ("—", "—")
                continue
            r = rows[-1]
            held_counts.add(r["target"])
            held = r["greeted"]
            if r.get("error", "").startswith("skipped"):
                cells[server] = (r["error"], "—")
                continue
            total = f"{fmt_mib(r['rss_held_kb'])} ({held:,} greeted of {r['connected']:,} connected"
            total += f"; before {fmt_mib(r['rss_before_kb'])}, after close {fmt_mib(r['rss_after_kb'])})"
            per = (f"{(r['rss_held_kb'] - r['rss_before_kb']) / max(1, held):.2f} KiB"
                   if held else "—")
            if r.get("error"):
                total += f" — {r['error']}"
            cells[server] = (total, per)
        label = f"{requested:,} idle connections"
        if held_counts and held_counts != {requested}:
            label += f" (only {max(held_counts):,} held: fd limit)"
        print(f"| {label}: RSS | {cells['sinkhole'][0]} | {cells['smtp-sink'][0]} |")
        print(f"| {label}: per connection | {cells['sinkhole'][1]} | {cells['smtp-sink'][1]} |")
    messages, everything = {}, {}
    for (sid, server), kb in peaks.items():
        messages[server] = max(messages.get(server, 0), kb)
    everything.update(messages)
    for r in idles:
        everything[r["server"]] = max(everything.get(r["server"], 0), r.get("hwm_kb", 0))
    print(f"| peak RSS (VmHWM) over the message scenarios (100 MiB messages included) "
          f"| {fmt_mib(messages.get('sinkhole'))} | {fmt_mib(messages.get('smtp-sink'))} |")
    print(f"| peak RSS (VmHWM) over the whole suite (idle connections included) "
          f"| {fmt_mib(everything.get('sinkhole'))} | {fmt_mib(everything.get('smtp-sink'))} |")

    # The goal "mode switching costs nothing on the hot path": sinkhole with its
    # mode from the file source against sinkhole with a static mode, same flags.
    static, dynamic = median(("conn100", "sinkhole"), "msgs_per_s"), median(("modefile", "sinkhole"), "msgs_per_s")
    if static and dynamic:
        cs = median(("conn100", "sinkhole"), "server_cpu_us_per_msg")
        cd = median(("modefile", "sinkhole"), "server_cpu_us_per_msg")
        print()
        print(f"sinkhole, mode from the file: source (TTL 1 s) against a static mode, same flags: "
              f"{dynamic:,.0f} against {static:,.0f} msgs/s ({dynamic / static:.2f}×), "
              f"{cd:,.0f} against {cs:,.0f} µs CPU/msg")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    command, argv = sys.argv[1], sys.argv[2:]
    handlers = {
        "freeport": cmd_freeport, "launch": cmd_launch, "measure": cmd_measure, "proc": cmd_proc,
        "resethwm": cmd_resethwm, "machine": cmd_machine, "table": cmd_table,
    }
    if command not in handlers:
        sys.exit(__doc__)
    handlers[command](argv)


if __name__ == "__main__":
    main()
