"""TLS: STARTTLS (RFC 3207) and implicit TLS (RFC 8314), the certificate
profiles, STARTTLS through the engine, and bad input on the TLS paths —
against clients nobody here wrote: Python's smtplib and ssl, openssl
s_client, swaks."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import textwrap
import time

import pytest
import requests

from conftest import HOSTNAME

PROFILES_REFUSED = {
    "self-signed": ("self-signed certificate", 18),
    "expired": ("certificate has expired", 10),
    "not-yet-valid": ("certificate is not yet valid", 9),
    "wrong-host": ("Hostname mismatch", 62),
    "untrusted-ca": ("unable to get local issuer certificate", 20),
    "weak-key": ("EE certificate key too weak", 66),
}


def start(sinkhole, tmp_path, *args: str):
    """A server offering STARTTLS with a generated certificate; its CA at the returned path."""
    ca = tmp_path / "ca.pem"
    server = sinkhole("--mode", "accept", "--starttls", "--tls-write-ca", str(ca), *args)
    return server, str(ca)


def listening_ports(server, count: int) -> list[int]:
    lines = server.wait_for_logs(lambda e: e.get("event") == "listening", count)
    return [int(line["address"].rpartition(":")[2]) for line in lines]


def context(ca: str) -> ssl.SSLContext:
    """Python's default client context (verifies the chain and the name), trusting sinkhole's CA."""
    return ssl.create_default_context(cafile=ca)


def read_reply(stream) -> tuple[int, list[bytes]]:
    lines = []
    while True:
        line = stream.readline()
        assert line, f"connection closed after {lines}"
        lines.append(line.rstrip(b"\r\n"))
        if line[3:4] != b"-":
            return int(line[:3]), [l[4:] for l in lines]


def test_starttls_with_smtplib_encrypts_the_session_and_starts_it_over(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path, "--capture", "memory")
    ready = server.wait_for_log(lambda e: e.get("event") == "tls_ready")
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", ready["fingerprint_sha256"])
    assert (ready["certificate"], ready["profile"], ready["starttls"]) == ("generated", "valid", "true")
    client = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=15)
    code, text = client.ehlo()
    assert code == 250 and b"STARTTLS" in text.split(b"\n")
    assert client.starttls(context=context(ca)) == (220, b"2.0.0 Ready to start TLS")
    # smtplib forgets the EHLO after STARTTLS, as RFC 3207 says the server does.
    code, text = client.ehlo()
    assert code == 250 and b"STARTTLS" not in text.split(b"\n")
    assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
    client.sendmail("alice@example.com", ["bob@example.com"], b"Subject: over TLS\r\n\r\nbody\r\n")
    client.quit()
    line = server.wait_for_log(lambda e: e.get("event") == "connection" and e.get("outcome") == "quit")
    assert line["tls"] in ("TLSv1.2", "TLSv1.3") and line["messages"] == 1
    mail = requests.get(f"http://127.0.0.1:{server.http_port}/api/v1/messages", timeout=10).json()["messages"]
    assert [m["Subject"] for m in mail] == ["over TLS"]
    assert server.metrics()["sinkhole_tls_handshakes_total"] == 1


def test_the_version_cipher_and_sni_are_logged_and_kept_with_the_message(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path, "--tls-listen", "127.0.0.1:0", "--capture", "memory")
    _, implicit = listening_ports(server, 2)
    client = smtplib.SMTP_SSL("localhost", implicit, local_hostname="client.test", timeout=15, context=context(ca))
    version, (cipher, _, _) = client.sock.version(), client.sock.cipher()
    client.sendmail("alice@example.com", ["bob@example.com"], b"Subject: sni\r\n\r\nbody\r\n")
    client.quit()
    line = server.wait_for_log(lambda e: e.get("event") == "connection" and e.get("outcome") == "quit")
    # Python names TLS 1.3's suites as IANA does.
    assert (line["tls"], line["tls_cipher"], line["tls_sni"]) == (version, cipher, "localhost")
    api = f"http://127.0.0.1:{server.http_port}/api/v1"
    [summary] = requests.get(f"{api}/messages", timeout=10).json()["messages"]
    message = requests.get(f"{api}/message/{summary['ID']}", timeout=10).json()
    assert message["SMTP"]["TLS"] == {"Version": version, "Cipher": cipher, "ServerName": "localhost"}
    [session] = requests.get(f"{api}/sessions", timeout=10).json()["sessions"]
    transcript = requests.get(f"{api}/sessions/{session['id']}", timeout=10).json()["transcript"]
    assert any(entry["text"] == f"TLS {version} established, cipher {cipher}, SNI localhost" for entry in transcript)


def test_implicit_tls_with_smtp_ssl_and_openssl_s_client(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path, "--tls-listen", "127.0.0.1:0")
    plain, implicit = listening_ports(server, 2)
    assert plain == server.port
    client = smtplib.SMTP_SSL("localhost", implicit, local_hostname="client.test", timeout=15, context=context(ca))
    code, text = client.ehlo()
    # Already encrypted: no STARTTLS offered, and STARTTLS refused.
    assert code == 250 and b"STARTTLS" not in text.split(b"\n")
    assert client.docmd("STARTTLS") == (554, b"5.5.1 TLS already active")
    client.sendmail("alice@example.com", ["bob@example.com"], b"Subject: x\r\n\r\nbody\r\n")
    client.quit()
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{implicit}", "-CAfile", ca, "-verify_return_error",
         "-verify_hostname", "localhost", "-quiet", "-ign_eof"],
        input=b"EHLO client.test\r\nQUIT\r\n", capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"220 {HOSTNAME} ESMTP".encode()), result.stdout
    assert b"221 2.0.0 Bye" in result.stdout


def test_openssl_s_client_starttls_smtp(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path)
    result = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-name", "client.test", "-connect", f"127.0.0.1:{server.port}",
         "-CAfile", ca, "-verify_return_error", "-verify_hostname", "localhost", "-quiet", "-ign_eof"],
        input=b"EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n", capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    # After the handshake: the fresh EHLO's reply, then MAIL's, then QUIT's.
    replies = result.stdout.decode().splitlines()
    assert replies[0] == f"250-{HOSTNAME}" and "250-STARTTLS" not in replies
    assert replies[-2:] == ["250 2.1.0 OK", "221 2.0.0 Bye"]
    assert "verify return:1" in result.stderr.decode()


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is installed by make test")
def test_swaks_tls_and_tlsc(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path, "--tls-listen", "127.0.0.1:0")
    plain, implicit = listening_ports(server, 2)
    for args, port in ((["--tls"], plain), (["--tlsc"], implicit)):
        result = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(port), "--to", "bob@example.com", "--from", "a@example.com",
             "--helo", "client.test", "--tls-verify", "--tls-ca-path", ca, *args],
            capture_output=True, timeout=60, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "TLS started with cipher TLSv1.3" in result.stdout, result.stdout
        assert re.search(r"<~  250 2\.0\.0 OK queued as \S+", result.stdout), result.stdout


def test_commands_pipelined_behind_starttls_are_discarded(sinkhole, tmp_path):
    """CVE-2011-0411: plaintext sent in the same write as STARTTLS must not run after the handshake."""
    server, ca = start(sinkhole, tmp_path)
    sock = socket.create_connection((server.host, server.port), timeout=15)
    stream = sock.makefile("rb")
    assert read_reply(stream)[0] == 220
    sock.sendall(b"EHLO client.test\r\n")
    assert read_reply(stream)[0] == 250
    sock.sendall(b"STARTTLS\r\nRSET\r\nMAIL FROM:<injected@example.com>\r\n")
    assert read_reply(stream) == (220, [b"2.0.0 Ready to start TLS"])
    tls = context(ca).wrap_socket(sock, server_hostname="localhost")
    stream = tls.makefile("rb")
    tls.sendall(b"EHLO client.test\r\n")
    # The first reply over TLS is the EHLO's, not RSET's or MAIL's.
    code, lines = read_reply(stream)
    assert code == 250 and lines[0] == HOSTNAME.encode() and len(lines) > 1
    tls.sendall(b"RCPT TO:<bob@example.com>\r\n")
    assert read_reply(stream) == (503, [b"5.5.1 Need MAIL command"])  # the injected MAIL did not open a transaction
    tls.sendall(b"QUIT\r\n")
    assert read_reply(stream)[0] == 221
    tls.close()
    discarded = server.wait_for_log(lambda e: e.get("event") == "starttls_discarded")
    assert discarded["bytes"] == len((b"RSET\r\nMAIL FROM:<injected@example.com>\r\n"))


@pytest.mark.parametrize("profile", ["valid", *PROFILES_REFUSED])
def test_certificate_profiles_against_openssl_and_pythons_default_context(sinkhole, tmp_path, profile):
    server, ca = start(sinkhole, tmp_path, "--tls-profile", profile, "--tls-listen", "127.0.0.1:0")
    _, implicit = listening_ports(server, 2)
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{implicit}", "-CAfile", ca, "-verify_return_error",
         "-verify_hostname", "localhost", "-quiet", "-ign_eof"],
        input=b"QUIT\r\n", capture_output=True, timeout=30)
    try:
        smtp = smtplib.SMTP_SSL("localhost", implicit, timeout=15, context=context(ca))
        python = smtp.noop()[0]
        smtp.quit()
    except ssl.SSLCertVerificationError as error:
        python = error.verify_message
    if profile == "valid":
        assert result.returncode == 0, result.stderr
        assert python == 250
        return
    message, number = PROFILES_REFUSED[profile]
    assert result.returncode != 0
    assert f"verify error:num={number}:" in result.stderr.decode(), result.stderr
    assert message.lower() in str(python).lower(), python
    # sinkhole saw the client refuse: one failure, with the reason, and it goes on serving.
    failure = server.wait_for_log(lambda e: e.get("event") == "tls_handshake_failed")
    assert failure["reason"] == "certificate_refused", failure
    assert server.smtp().noop()[0] == 250


def test_a_listener_presents_its_own_profile(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path, "--tls-listen", "127.0.0.1:0,tls-profile=expired", "--tls-listen", "127.0.0.1:0")
    _, expired, valid = listening_ports(server, 3)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
        smtplib.SMTP_SSL("localhost", expired, timeout=15, context=context(ca))
    smtp = smtplib.SMTP_SSL("localhost", valid, timeout=15, context=context(ca))
    assert smtp.noop()[0] == 250
    smtp.quit()


def test_starttls_through_the_engine_454_close_and_garbage(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: no-tls
            command: STARTTLS
            condition: {field: helo, operator: contains, matchingValue: refuse}
            response: {code: 454, enhancedCode: 4.7.0, message: TLS not available due to temporary reason}
          - id: close
            command: STARTTLS
            condition: {field: helo, operator: contains, matchingValue: close}
            response: {action: tls_close}
          - id: garbage
            command: STARTTLS
            condition: {field: helo, operator: contains, matchingValue: garbage}
            response: {action: tls_garbage}
    """))
    server, ca = start(sinkhole, tmp_path, "--rules", str(rules))
    client = smtplib.SMTP(server.host, server.port, local_hostname="refuse.test", timeout=15)
    client.ehlo()
    with pytest.raises(smtplib.SMTPResponseException) as refused:
        client.starttls(context=context(ca))
    assert (refused.value.smtp_code, refused.value.smtp_error) == (454, b"4.7.0 TLS not available due to temporary reason")
    # The plain session goes on: the client falls back.
    assert client.sendmail("a@example.com", ["b@example.com"], b"Subject: plain\r\n\r\nx\r\n") == {}
    client.quit()

    for name, error in (("close", (ssl.SSLError, OSError, smtplib.SMTPServerDisconnected)), ("garbage", ssl.SSLError)):
        client = smtplib.SMTP(server.host, server.port, local_hostname=f"{name}.test", timeout=15)
        client.ehlo()
        with pytest.raises(error) as broken:
            client.starttls(context=context(ca))
        if name == "garbage":
            assert "WRONG_VERSION_NUMBER" in str(broken.value) or "wrong version number" in str(broken.value)
        client.close()
        line = server.wait_for_log(lambda e: e.get("event") == "tls_broken" and e.get("how") == name)
        assert line["client"].startswith("127.0.0.1:")
    server.wait_for_logs(lambda e: e.get("event") == "connection" and e.get("outcome") == "tls_failed", 2)


def test_starttls_rule_without_a_certificate_still_answers_454(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {command: STARTTLS, response: {code: 454, message: TLS not available due to temporary reason}}\n")
    server = sinkhole("--mode", "accept", "--rules", str(rules))
    client = server.raw()
    assert client.reply()[0] == 220
    client.send(b"EHLO client.test\r\n")
    code, lines = client.reply()
    assert b"STARTTLS" not in lines
    assert client.command(b"STARTTLS") == (454, b"TLS not available due to temporary reason")


def test_require_tls_answers_mail_530_until_starttls(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path, "--require-tls")
    client = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=15)
    client.ehlo()
    assert client.docmd("MAIL FROM:<a@example.com>") == (530, b"5.7.0 Must issue a STARTTLS command first")
    client.starttls(context=context(ca))
    client.ehlo()
    assert client.docmd("MAIL FROM:<a@example.com>") == (250, b"2.1.0 OK")
    client.quit()


def test_withheld_starttls_is_refused_502(sinkhole, tmp_path):
    server, _ = start(sinkhole, tmp_path)
    # BadSMTP's EHLO keyword for this session only.
    client = server.raw()
    assert client.reply()[0] == 220
    client.send(b"EHLO nostarttls.client.test\r\n")
    code, lines = client.reply()
    assert code == 250 and b"STARTTLS" not in lines
    assert client.command(b"STARTTLS") == (502, b"5.5.1 Command not implemented")
    # --no-starttls for the whole server, even with a certificate.
    quiet, _ = start(sinkhole, tmp_path, "--no-starttls")
    client = quiet.raw()
    assert client.reply()[0] == 220
    client.send(b"EHLO client.test\r\n")
    assert b"STARTTLS" not in client.reply()[1]
    assert client.command(b"STARTTLS") == (502, b"5.5.1 Command not implemented")
    assert client.command(b"STARTTLS now") == (501, b"5.5.4 Syntax: STARTTLS takes no parameters")


def test_garbage_instead_of_a_client_hello_closes_that_connection_only(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path, "--tls-listen", "127.0.0.1:0")
    plain, implicit = listening_ports(server, 2)
    # After STARTTLS's 220: plaintext, not a ClientHello.
    client = server.raw()
    assert client.reply()[0] == 220
    client.send(b"EHLO client.test\r\n")
    client.reply()
    assert client.command(b"STARTTLS") == (220, b"2.0.0 Ready to start TLS")
    client.send(b"EHLO client.test\r\n")
    # A TLS alert (a record of type 21), if anything, then the close.
    rest = b""
    while chunk := client.sock.recv(4096):
        rest += chunk
    assert rest == b"" or rest[:1] == b"\x15", rest
    failure = server.wait_for_log(lambda e: e.get("event") == "tls_handshake_failed")
    assert failure["reason"] == "not_tls", failure
    # On the implicit-TLS port: random bytes.
    sock = socket.create_connection(("127.0.0.1", implicit), timeout=15)
    sock.sendall(os.urandom(512))
    sock.settimeout(15)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    sock.close()
    server.wait_for_logs(lambda e: e.get("event") == "tls_handshake_failed", 2)
    metrics = server.metrics()
    assert metrics['sinkhole_tls_handshake_failures_total{reason="not_tls"}'] >= 1
    assert server.smtp().noop()[0] == 250


def test_a_client_hello_on_a_plain_port_after_ehlo_is_an_unrecognised_command(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path)
    client = server.raw()
    assert client.reply()[0] == 220
    client.send(b"EHLO client.test\r\n")
    client.reply()
    # A TLS record where a command belongs (no STARTTLS): SMTP answers it as SMTP does.
    hello = ssl.MemoryBIO()
    out = ssl.MemoryBIO()
    tls = context(ca).wrap_bio(hello, out, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    client.send(out.read() + b"\r\n")
    code, _ = client.reply()
    assert code == 500
    server.assert_alive()


def test_a_half_finished_handshake_is_closed_at_the_idle_timeout(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path, "--tls-listen", "127.0.0.1:0", "--idle-timeout", "1s")
    _, implicit = listening_ports(server, 2)
    sock = socket.create_connection(("127.0.0.1", implicit), timeout=15)
    sock.sendall(b"\x16\x03\x01\x00\xff")  # a TLS record header announcing 255 bytes that never come
    started = time.monotonic()
    sock.settimeout(15)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - started
    sock.close()
    assert 0.5 < elapsed < 10, elapsed
    line = server.wait_for_log(lambda e: e.get("event") == "limit_exceeded" and e.get("limit") == "idle_timeout")
    assert line["client"].startswith("127.0.0.1:")


def test_tls_cert_and_key_files_are_used_and_reloaded_on_sighup_and_on_change(sinkhole, tmp_path):
    def make(name: str) -> tuple[str, str, str]:
        cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", f"/CN={name}", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30)
        fingerprint = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256"],
                                     check=True, capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        return str(cert), str(key), fingerprint

    cert, key, first = make("first")
    live_cert, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(cert, live_cert)
    shutil.copy(key, live_key)
    server = sinkhole("--mode", "accept", "--tls-cert", str(live_cert), "--tls-key", str(live_key))
    ready = server.wait_for_log(lambda e: e.get("event") == "tls_ready")
    assert (ready["certificate"], ready["fingerprint_sha256"], ready["starttls"]) == (str(live_cert), first, "true")

    def served_fingerprint(trusted: str) -> str:
        """The SHA-256 of the certificate a new STARTTLS session is given (self-signed: trusted as its own CA)."""
        client = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=15)
        client.starttls(context=context(trusted))
        der = client.sock.getpeercert(binary_form=True)
        client.quit()
        return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())

    # An open session, encrypted with the first certificate, outlives the reload.
    open_session = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=15)
    open_session.starttls(context=context(cert))
    open_session.ehlo()
    assert served_fingerprint(cert) == first

    cert2, key2, second = make("second")
    shutil.copy(cert2, live_cert)
    shutil.copy(key2, live_key)
    os.kill(server.pid, signal.SIGHUP)
    reloaded = server.wait_for_log(lambda e: e.get("event") == "tls_reloaded", timeout=10)
    assert reloaded["fingerprint_sha256"] == second
    assert served_fingerprint(cert2) == second
    assert open_session.noop()[0] == 250
    open_session.quit()

    # A broken file keeps the certificate in use, and says so.
    mark = server.mark()
    live_key.write_text("not a key\n")
    failed = server.wait_for_log(lambda e: e.get("event") == "tls_reload_failed", timeout=15, start=mark)
    assert failed["trigger"] == "file_changed"
    assert served_fingerprint(cert2) == second
    # A change on disk is noticed without a signal.
    shutil.copy(key2, live_key)
    os.utime(live_key, (time.time() + 5, time.time() + 5))
    changed = server.wait_for_log(lambda e: e.get("event") == "tls_reloaded" and e.get("trigger") == "file_changed",
                                  timeout=15, start=mark)
    assert changed["fingerprint_sha256"] == second


@pytest.mark.parametrize("args, fragment", [
    (["--tls-cert", "/nonexistent.crt", "--tls-key", "/nonexistent.key"], "invalid tls-cert /nonexistent.crt: no readable file there"),
    (["--tls-cert", "/etc/hostname"], "tls-cert needs tls-key"),
    (["--tls-profile", "bogus", "--starttls"], 'invalid --tls-profile "bogus": expected one of valid, self-signed'),
    (["--require-tls"], "require-tls needs STARTTLS"),
    (["--listen", "127.0.0.1:0,tls-profile=nope", "--starttls"], "tls-profile=nope: expected one of valid"),
])
def test_tls_settings_errors_are_one_line_and_exit_2(args, fragment):
    from conftest import assert_one_line_error, run_sinkhole
    result = run_sinkhole("--http-listen", "none", *args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert_one_line_error(result, fragment)


def test_a_certificate_that_is_not_pem_exits_2(tmp_path):
    from conftest import assert_one_line_error, run_sinkhole
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("hello\n")
    key.write_text("world\n")
    result = run_sinkhole("--http-listen", "none", "--listen", "127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(key))
    assert result.returncode == 2
    assert_one_line_error(result, f"--tls-cert {cert}: not a readable PEM certificate")


def test_the_ehlo_name_picks_the_certificate_for_that_session(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path)
    for helo, refusal in (("tlsexpired.client.test", "certificate has expired"),
                          ("tlswronghost-nopipelining.client.test", "IP address mismatch"),
                          ("tlsselfsigned.client.test", "self-signed certificate")):
        client = smtplib.SMTP(server.host, server.port, local_hostname=helo, timeout=15)
        client.ehlo()
        with pytest.raises(ssl.SSLCertVerificationError, match=refusal):
            client.starttls(context=context(ca))
        client.close()
    client = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=15)
    client.ehlo()
    assert client.starttls(context=context(ca))[0] == 220
    client.quit()


def test_auth_is_tls_only_on_a_listener_that_is_not_loopback(sinkhole, tmp_path):
    server, ca = start(sinkhole, tmp_path, "--auth", "--listen", "0.0.0.0:0")
    _, wildcard = listening_ports(server, 2)
    loopback = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=15)
    assert any(line.startswith(b"AUTH ") for line in loopback.ehlo()[1].split(b"\n"))
    loopback.quit()
    client = smtplib.SMTP("127.0.0.1", wildcard, local_hostname="client.test", timeout=15)
    assert not any(line.startswith(b"AUTH ") for line in client.ehlo()[1].split(b"\n"))
    assert client.docmd("AUTH", "PLAIN AGEAYg==") == (538, b"5.7.11 Encryption required for requested authentication mechanism")
    client.starttls(context=context(ca))
    assert any(line.startswith(b"AUTH ") for line in client.ehlo()[1].split(b"\n"))
    assert client.login("alice", "pw")[0] == 235
    client.quit()
