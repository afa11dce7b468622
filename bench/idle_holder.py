#!/usr/bin/env python3
"""Opens COUNT idle SMTP connections to a loopback server, waits for each 220
greeting, holds them, and reports the server's RSS (VmRSS from /proc/PID/status)
before, while holding and after closing them, as one JSON line.

    idle_holder.py --port PORT --count N --pid SERVER_PID [--batch 1000] [--stall 5] [--settle 2]

Connections are opened in batches (at most BATCH waiting for their greeting at
once) so the server's listen backlog never overflows. A server that stops
greeting (smtp-sink past its -m limit keeps the rest in the backlog unanswered)
is given STALL seconds without progress, then the count reached is reported.
Past ~28,000 connections one source address runs out of ephemeral ports, so
they are spread over 127.0.0.1, 127.0.0.2, ... (all loopback). Python 3 stdlib only.
"""

import argparse
import errno
import json
import resource
import selectors
import socket
import time

PER_SOURCE_ADDRESS = 20_000
IP_BIND_ADDRESS_NO_PORT = 24  # Linux: pick the port at connect(), per 4-tuple


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, need)
    if hard != resource.RLIM_INFINITY and want > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))  # root only
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def open_connection(port, index):
    source = f"127.0.0.{1 + index // PER_SOURCE_ADDRESS}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        code = sock.connect_ex(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    if code not in (0, errno.EINPROGRESS):
        sock.close()
        raise OSError(code, errno.errorcode.get(code, str(code)))
    return sock


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server's PID, for its RSS")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--stall", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=2.0)
    args = parser.parse_args()

    result = {"target": args.count, "connected": 0, "greeted": 0, "error": ""}
    limit = raise_fd_limit(args.count + 100)
    if limit < args.count + 100:
        result["error"] = f"holder fd limit {limit} < {args.count}"
    result["rss_before_kb"] = vm(args.pid, "VmRSS")

    selector = selectors.DefaultSelector()
    held = []  # greeted connections, kept open and idle
    pending = {}  # socket -> bytes read so far
    opened, refused = 0, 0
    started = last_progress = time.monotonic()
    while True:
        while opened < args.count and len(pending) < args.batch and not result["error"]:
            try:
                sock = open_connection(args.port, opened)
            except OSError as error:
                result["error"] = f"connect #{opened + 1}: {error}"
                break
            opened += 1
            pending[sock] = b""
            selector.register(sock, selectors.EVENT_READ)
        if not pending:
            break
        events = selector.select(timeout=0.5)
        for key, _ in events:
            sock = key.fileobj
            try:
                chunk = sock.recv(512)
            except OSError:
                chunk = b""
            if not chunk:  # refused or closed before a greeting
                refused += 1
                selector.unregister(sock)
                del pending[sock]
                sock.close()
                continue
            data = pending[sock] + chunk
            if b"\n" not in data:
                pending[sock] = data
                continue
            selector.unregister(sock)
            del pending[sock]
            if data.startswith(b"220"):
                held.append(sock)
            else:  # e.g. 421 4.7.0 too many connections
                refused += 1
                sock.close()
        if events:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > args.stall:
            result["error"] = result["error"] or (
                f"stalled: {len(pending)} connections got no greeting within {args.stall:g} s")
            break
    result["connect_s"] = round(time.monotonic() - started, 2)
    result["greeted"] = len(held)
    result["refused_or_closed"] = refused
    # Connected: greeted, plus those still waiting (accepted by the kernel, unanswered).
    result["connected"] = len(held) + sum(1 for s in pending if _is_connected(s))

    time.sleep(args.settle)
    result["rss_held_kb"] = vm(args.pid, "VmRSS")
    result["hwm_kb"] = vm(args.pid, "VmHWM")
    # Did the server drop any held connection meanwhile?
    for sock in held:
        selector.register(sock, selectors.EVENT_READ)
    dropped = len(selector.select(timeout=0))  # a reply or EOF on an idle connection
    result["dropped_while_held"] = dropped
    for sock in held + list(pending):
        try:
            selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()
    time.sleep(args.settle)
    result["rss_after_kb"] = vm(args.pid, "VmRSS")
    print(json.dumps(result))


def _is_connected(sock):
    try:
        sock.getpeername()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
