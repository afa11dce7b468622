"""PROXY protocol v1 and v2 on a listener (`--listen HOST:PORT,proxy-protocol`):
the client the header names is the one sinkhole sees (logs, greylisting,
rules by client_ip); a connection without a valid header is closed unanswered.

Headers are written byte for byte, as an AWS NLB (v2) or HAProxy (v1) sends them.
"""

from __future__ import annotations

import socket
import ssl
import struct
import textwrap
import time

from conftest import HOSTNAME, RawClient

GREETING = (220, [f"{HOSTNAME} ESMTP sinkhole".encode()])
SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
MAIL_OK = (250, b"2.1.0 OK")
RCPT_OK = (250, b"2.1.5 OK")


def v2(source: str, source_port: int, dest: str = "10.0.0.5", dest_port: int = 25, *, command: int = 1,
       tlvs: bytes = b"") -> bytes:
    """A v2 header for TCP over IPv4 or IPv6 (`command` 1: PROXY, 0: LOCAL), with optional TLVs."""
    if ":" in source:
        family = 0x21
        addresses = socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, dest)
    else:
        family = 0x11
        addresses = socket.inet_aton(source) + socket.inet_aton(dest)
    body = addresses + struct.pack("!HH", source_port, dest_port) + tlvs
    return SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def start(sinkhole, *args: str, options: str = ""):
    """A server with a PROXY listener; returns (server, its port)."""
    server = sinkhole("--mode", "accept", "--listen", f"127.0.0.1:0,proxy-protocol{options}", *args)
    lines = server.wait_for_logs(lambda e: e.get("event") == "listening", 2)
    return server, int(lines[1]["address"].rpartition(":")[2])


def client(server, port: int) -> RawClient:
    return RawClient("127.0.0.1", port, timeout=10)


def connection_line(server, address: str) -> dict:
    return server.wait_for_log(lambda e: e.get("event") == "connection" and e.get("client") == address)


def test_a_v1_header_names_the_client(sinkhole):
    server, port = start(sinkhole)
    proxied = client(server, port)
    proxied.send(b"PROXY TCP4 192.0.2.17 198.51.100.1 40123 25\r\n")
    assert proxied.reply() == GREETING
    assert proxied.command(b"QUIT") == (221, b"2.0.0 Bye")
    line = connection_line(server, "192.0.2.17:40123")
    assert line["outcome"] == "quit"


def test_a_v2_header_with_tlvs_and_the_first_command_in_one_write(sinkhole):
    server, port = start(sinkhole)
    proxied = client(server, port)
    # An NLB's TLV 0xEA (its VPC endpoint id) and the client's EHLO right behind the header.
    tlv = bytes([0xEA]) + struct.pack("!H", 23) + b"\x01vpce-0123456789abcdef0"[:23]
    proxied.send(v2("203.0.113.9", 51000, tlvs=tlv) + b"EHLO client.test\r\n")
    assert proxied.reply() == GREETING
    code, _ = proxied.reply()
    assert code == 250
    assert proxied.command(b"QUIT")[0] == 221
    connection_line(server, "203.0.113.9:51000")


def test_a_v2_ipv6_header_and_a_header_split_across_writes(sinkhole):
    server, port = start(sinkhole)
    proxied = client(server, port)
    header = v2("2001:db8::7", 40000, "2001:db8::1")
    proxied.send(header[:5])
    proxied.send(header[5:20])
    proxied.send(header[20:])
    assert proxied.reply() == GREETING
    proxied.command(b"QUIT")
    connection_line(server, "[2001:db8::7]:40000")


def test_local_and_unknown_headers_keep_the_peer(sinkhole):
    server, port = start(sinkhole)
    # v2 LOCAL: the NLB's own health check.
    health = client(server, port)
    health.send(v2("10.0.0.9", 1, command=0))
    assert health.reply() == GREETING
    health.command(b"QUIT")
    connection_line(server, f"127.0.0.1:{health.client_port}")
    unknown = client(server, port)
    unknown.send(b"PROXY UNKNOWN\r\n")
    assert unknown.reply() == GREETING
    unknown.command(b"QUIT")
    connection_line(server, f"127.0.0.1:{unknown.client_port}")


def test_a_connection_without_a_valid_header_is_closed_unanswered_and_logged(sinkhole):
    server, port = start(sinkhole)
    cases = [
        (b"EHLO client.test\r\n", "no PROXY protocol header"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.1 99999 25\r\n", "PROXY v1 line with a bad address or port"),
        (b"PROXY TCP4 not-an-ip 198.51.100.1 1 25\r\n", "PROXY v1 line with a bad address or port"),
        (b"PROXY TCP6 192.0.2.1 198.51.100.1 1 25\r\n", "PROXY v1 address is not of its family"),
        (b"PROXY TCP4 192.0.2.1\r\n", "PROXY v1 line is not PROXY TCP4|TCP6 SRC DST SPORT DPORT"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.1 1 25\n", "PROXY v1 line without CRLF"),
        (b"PROXY " + b"x" * 120, "PROXY v1 line longer than 107 octets"),
        (SIGNATURE + bytes([0x31, 0x11, 0, 12]) + bytes(12), "PROXY v2 header of version 3"),
        (SIGNATURE + bytes([0x22, 0x11, 0, 12]) + bytes(12), "PROXY v2 header with command 2"),
        (SIGNATURE + bytes([0x21, 0x12, 0, 12]) + bytes(12), "PROXY v2 header for transport 0x12, not a TCP stream"),
        (SIGNATURE + bytes([0x21, 0x11, 0, 4]) + bytes(4), "PROXY v2 TCP4 header too short"),
        (SIGNATURE + bytes([0x21, 0x11, 0xFF, 0xFF]), "PROXY v2 header of 65551 octets"),
    ]
    for data, reason in cases:
        mark = server.mark()
        probe = client(server, port)
        probe.send(data)
        assert probe.at_eof(), data
        line = server.wait_for_log(lambda e: e.get("event") == "proxy_header_refused", start=mark)
        assert line["reason"] == reason and line["client"] == f"127.0.0.1:{probe.client_port}", (data, line)
    # The plain listener is not affected.
    plain = server.raw()
    assert plain.reply() == GREETING


def test_a_proxy_connection_gives_its_slot_back_when_it_ends(sinkhole):
    """--max-connections counts PROXY connections too, and each one's slot is given back
    when it ends: with a refused header (no session was ever started) and after QUIT."""
    server, port = start(sinkhole, "--max-connections", "1")
    too_many = b"421 4.7.0 Too many connections\r\n"

    def admitted(header: bytes) -> bytes:
        """What the server sends to a connection that got the slot, read to the end. A slot is
        given back once the server has closed the last connection: until then it is 421."""
        deadline = time.monotonic() + 5
        while True:
            received = b""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(header)
                    while chunk := sock.recv(4096):
                        received += chunk
                        if received.endswith(b"221 2.0.0 Bye\r\n"):
                            break
                        if received.startswith(b"220 ") and received.endswith(b"\r\n"):
                            sock.sendall(b"QUIT\r\n")
            except ConnectionResetError:
                # Refused for the limit: the 421 and a close with the header unread, which
                # resets the connection (the header's handler reads what it refuses).
                received = too_many
            if received != too_many:
                return received
            assert time.monotonic() < deadline, "the slot was not given back within 5 s"

    for _ in range(3):
        # A connection without a valid header is closed without a word, and ends.
        assert admitted(b"EHLO client.test\r\n") == b""
        # One with a header gets its session, and ends with QUIT.
        assert admitted(b"PROXY TCP4 192.0.2.17 198.51.100.1 40123 25\r\n") == \
            f"220 {HOSTNAME} ESMTP sinkhole\r\n221 2.0.0 Bye\r\n".encode()
    # While one is open, it is the one connection allowed.
    held = client(server, port)
    held.send(b"PROXY TCP4 192.0.2.18 198.51.100.1 40124 25\r\n")
    deadline = time.monotonic() + 5
    while held.reply() != GREETING:
        assert time.monotonic() < deadline, "the slot was not given back within 5 s"
        held = client(server, port)
        held.send(b"PROXY TCP4 192.0.2.18 198.51.100.1 40124 25\r\n")
    extra = server.raw()
    assert extra.reply() == (421, [b"4.7.0 Too many connections"])


def test_a_header_that_never_comes_is_refused_at_the_idle_timeout(sinkhole):
    server, port = start(sinkhole, "--idle-timeout", "500ms")
    silent = client(server, port)
    assert silent.at_eof()
    line = server.wait_for_log(lambda e: e.get("event") == "proxy_header_refused")
    assert line["reason"] == "no PROXY protocol header within 500 ms"


def test_greylisting_and_rules_key_on_the_client_the_header_names(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: block-net
            command: MAIL
            condition: {field: client_ip, operator: cidr, matchingValue: 198.51.100.0/24}
            response: {code: 550, enhancedCode: 5.7.1, message: Blocked network}
        """))
    server = sinkhole("--mode", "greylist", "--greylist-reply", "451 4.7.1 Greylisted", "--rules", str(rules),
                      "--listen", "127.0.0.1:0,proxy-protocol")
    lines = server.wait_for_logs(lambda e: e.get("event") == "listening", 2)
    port = int(lines[1]["address"].rpartition(":")[2])

    def attempt(source: str) -> tuple[int, bytes]:
        proxied = client(server, port)
        proxied.send(b"PROXY TCP4 %s 10.0.0.5 40000 25\r\n" % source.encode())
        assert proxied.reply() == GREETING
        proxied.send(b"EHLO client.test\r\n")
        assert proxied.reply()[0] == 250
        mail = proxied.command(b"MAIL FROM:<a@example.com>")
        if mail != MAIL_OK:
            return mail
        reply = proxied.command(b"RCPT TO:<b@example.com>")
        proxied.command(b"QUIT")
        return reply

    # Two clients behind the same proxy address (127.0.0.1) are greylisted apart.
    assert attempt("192.0.2.1") == (451, b"4.7.1 Greylisted")
    assert attempt("192.0.2.1") == RCPT_OK, "the retry from the same client passes"
    assert attempt("192.0.2.2") == (451, b"4.7.1 Greylisted"), "another client behind the proxy is new"
    assert attempt("198.51.100.7") == (550, b"5.7.1 Blocked network")


def test_implicit_tls_behind_a_proxy_header(sinkhole, tmp_path):
    ca = tmp_path / "ca.pem"
    server, port = start(sinkhole, "--tls-write-ca", str(ca), options=",tls")
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.sendall(b"PROXY TCP4 192.0.2.44 10.0.0.5 40444 465\r\n")
    context = ssl.create_default_context(cafile=str(ca))
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.recv(256).startswith(b"220 ")
        tls.sendall(b"QUIT\r\n")
        assert tls.recv(256).startswith(b"221 ")
    line = connection_line(server, "192.0.2.44:40444")
    assert line["tls"] == "TLSv1.3"


def test_the_option_in_a_config_file_listener(sinkhole, tmp_path):
    config = tmp_path / "sinkhole.yaml"
    config.write_text("listeners:\n  - listen: 127.0.0.1:0\n    proxy-protocol: true\n")
    server = sinkhole("--mode", "accept", "--config", str(config))
    lines = server.wait_for_logs(lambda e: e.get("event") == "listening", 2)
    port = int(lines[1]["address"].rpartition(":")[2])
    proxied = client(server, port)
    proxied.send(b"PROXY TCP4 192.0.2.99 10.0.0.5 1234 25\r\n")
    assert proxied.reply() == GREETING
