"""AUTH (RFC 4954): PLAIN, LOGIN, CRAM-MD5, CRAM-SHA256, XOAUTH2 and
OAUTHBEARER against Python's smtplib and swaks; BadSMTP's rule and real
accounts; every protocol error; AUTH through the engine; and no secret in
any log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import smtplib
import ssl
import subprocess
import textwrap
import time

import pytest
import requests

from conftest import HOSTNAME

ALL = "PLAIN LOGIN CRAM-MD5 CRAM-SHA256 XOAUTH2 OAUTHBEARER"
PASSWORD = "Tr0ub4dor&3-secret"
TOKEN = "ya29.token-that-must-never-be-logged"


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def login(server, mechanism: str, user: str, secret: str, port: int | None = None) -> tuple[int, bytes]:
    """One AUTH exchange through smtplib's own machinery (its auth() and authobjects)."""
    client = smtplib.SMTP(server.host, port or server.port, local_hostname="client.test", timeout=15)
    client.ehlo()
    client.user, client.password = user, secret

    def cram_sha256(challenge: bytes | None = None) -> str:
        if challenge is None:
            return None
        return user + " " + hmac.HMAC(secret.encode(), challenge, hashlib.sha256).hexdigest()

    def xoauth2(challenge: bytes | None = None) -> str:
        return "" if challenge else f"user={user}\x01auth=Bearer {secret}\x01\x01"

    def oauthbearer(challenge: bytes | None = None) -> str:
        return "\x01" if challenge else f"n,a={user},\x01host=sinkhole.test\x01port=25\x01auth=Bearer {secret}\x01\x01"

    authobject = {
        "PLAIN": client.auth_plain, "LOGIN": client.auth_login, "CRAM-MD5": client.auth_cram_md5,
        "CRAM-SHA256": cram_sha256, "XOAUTH2": xoauth2, "OAUTHBEARER": oauthbearer,
    }[mechanism]
    try:
        return client.auth(mechanism, authobject, initial_response_ok=mechanism not in ("LOGIN", "CRAM-MD5", "CRAM-SHA256"))
    except smtplib.SMTPAuthenticationError as error:
        return error.smtp_code, error.smtp_error
    finally:
        client.close()


@pytest.mark.parametrize("mechanism", ALL.split())
def test_each_mechanism_by_badsmtps_rule(sinkhole, mechanism):
    server = sinkhole("--mode", "accept", "--auth")
    assert login(server, mechanism, "alice@example.com", "anything") == (235, b"2.7.0 Authentication successful")
    assert login(server, mechanism, "badauth@example.com", "anything") == (535, b"5.7.8 Authentication credentials invalid")


@pytest.mark.parametrize("mechanism", ALL.split())
def test_each_mechanism_against_real_accounts(sinkhole, tmp_path, mechanism):
    users = tmp_path / "users"
    users.write_text(f"# user:password\nalice@example.com:{PASSWORD}\nbob:{TOKEN}\n")
    server = sinkhole("--mode", "accept", "--auth-users", str(users))
    secret = TOKEN if mechanism in ("XOAUTH2", "OAUTHBEARER") else PASSWORD
    user = "bob" if secret == TOKEN else "alice@example.com"
    assert login(server, mechanism, user, secret) == (235, b"2.7.0 Authentication successful")
    # CRAM is checked against the secret: the HMAC of the challenge sinkhole sent.
    assert login(server, mechanism, user, secret + "x")[0] == 535
    assert login(server, mechanism, "nobody", secret)[0] == 535


def test_smtplib_login_and_send_and_the_identity_is_kept(sinkhole, tmp_path):
    users = tmp_path / "users"
    users.write_text(f"alice@example.com:{PASSWORD}\n")
    server = sinkhole("--mode", "accept", "--auth-users", str(users), "--capture", "memory")
    client = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=15)
    code, text = client.ehlo()
    assert f"AUTH {ALL}".encode() in text.split(b"\n")
    assert client.login("alice@example.com", PASSWORD) == (235, b"2.7.0 Authentication successful")
    assert client.docmd("AUTH", "PLAIN " + b64("\0alice@example.com\0" + PASSWORD)) == (503, b"5.5.1 Already authenticated")
    client.sendmail("alice@example.com", ["bob@example.com"], b"Subject: authenticated\r\n\r\nbody\r\n")
    client.quit()
    line = server.wait_for_log(lambda e: e.get("event") == "connection" and e.get("outcome") == "quit")
    assert line["auth_user"] == "alice@example.com"
    summary = requests.get(f"http://127.0.0.1:{server.http_port}/api/v1/messages", timeout=10).json()["messages"][0]
    assert summary["Username"] == "alice@example.com"
    message = requests.get(f"http://127.0.0.1:{server.http_port}/api/v1/message/{summary['ID']}", timeout=10).json()
    assert (message["SMTP"]["AuthUser"], message["SMTP"]["TLS"]) == ("alice@example.com", None)


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is installed by make test")
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_swaks_auth(sinkhole, tmp_path, mechanism):
    users = tmp_path / "users"
    users.write_text(f"alice@example.com:{PASSWORD}\n")
    server = sinkhole("--mode", "accept", "--auth-users", str(users))

    def swaks(password: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(server.port), "--to", "bob@example.com",
             "--from", "alice@example.com", "--helo", "client.test", "--auth", mechanism,
             "--auth-user", "alice@example.com", "--auth-password", password],
            capture_output=True, text=True, timeout=60)

    good = swaks(PASSWORD)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "<-  235 2.7.0 Authentication successful" in good.stdout, good.stdout
    bad = swaks("wrong")
    assert bad.returncode != 0
    assert "<** 535 5.7.8 Authentication credentials invalid" in bad.stdout, bad.stdout


def raw_session(server, helo: str = "client.test"):
    client = server.raw()
    assert client.reply()[0] == 220
    client.send(f"EHLO {helo}\r\n".encode())
    code, lines = client.reply()
    assert code == 250
    return client, lines


def test_protocol_errors_get_rfc_4954s_replies(sinkhole):
    server = sinkhole("--mode", "accept", "--auth")
    client = server.raw()
    assert client.reply()[0] == 220
    assert client.command(b"AUTH PLAIN " + b64("\0a\0b").encode()) == (503, b"5.5.1 Send HELO/EHLO first")
    client.send(b"EHLO client.test\r\n")
    client.reply()
    assert client.command(b"AUTH") == (501, b"5.5.4 Syntax: AUTH mechanism [initial-response]")
    assert client.command(b"AUTH GSSAPI") == (504, b"5.5.4 Unrecognized authentication type")
    assert client.command(b"AUTH PLAIN not!base64") == (501, b"5.5.2 Cannot decode the response (not base64)")
    assert client.command(b"AUTH PLAIN " + b64("no nul bytes").encode()) == (501, b"5.5.4 Malformed authentication response")
    assert client.command(b"AUTH CRAM-MD5 " + b64("early").encode()) == (501, b"5.5.4 Malformed authentication response")
    # No initial response: an empty challenge, then the response; `*` cancels.
    assert client.command(b"AUTH PLAIN") == (334, b"")
    assert client.command(b"*") == (501, b"5.7.0 Authentication cancelled")
    assert client.command(b"AUTH LOGIN") == (334, b"VXNlcm5hbWU6")
    assert client.command(b64("alice").encode()) == (334, b"UGFzc3dvcmQ6")
    assert client.command(b"*") == (501, b"5.7.0 Authentication cancelled")
    code, challenge = client.command(b"AUTH CRAM-MD5")
    assert code == 334 and re.fullmatch(rb"<\d+\.\d+@" + HOSTNAME.encode() + rb">", base64.b64decode(challenge))
    assert client.command(b"=") == (501, b"5.5.4 Malformed authentication response")
    # Inside a transaction: 503.
    assert client.command(b"MAIL FROM:<a@example.com>")[0] == 250
    assert client.command(b"AUTH PLAIN " + b64("\0alice\0pw").encode()) == (503, b"5.5.1 AUTH not allowed during a mail transaction")
    assert client.command(b"RSET")[0] == 250
    assert client.command(b"AUTH PLAIN " + b64("\0alice\0pw").encode()) == (235, b"2.7.0 Authentication successful")
    assert client.command(b"AUTH PLAIN " + b64("\0alice\0pw").encode()) == (503, b"5.5.1 Already authenticated")
    server.assert_alive()


def test_token_mechanisms_fail_with_the_json_challenge_first(sinkhole):
    server = sinkhole("--mode", "accept", "--auth")
    client, _ = raw_session(server)
    code, text = client.command(b"AUTH XOAUTH2 " + b64("user=badauth@example.com\x01auth=Bearer t\x01\x01").encode())
    assert code == 334
    assert json.loads(base64.b64decode(text)) == {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}
    assert client.command(b"") == (535, b"5.7.8 Authentication credentials invalid")
    code, text = client.command(b"AUTH OAUTHBEARER " + b64("n,a=badauth@example.com,\x01auth=Bearer t\x01\x01").encode())
    assert code == 334 and json.loads(base64.b64decode(text))["status"] == "invalid_token"
    assert client.command(b"AQ==") == (535, b"5.7.8 Authentication credentials invalid")
    assert client.command(b"AUTH OAUTHBEARER " + b64("n,a=alice@example.com,\x01auth=Bearer t\x01\x01").encode()) == (
        235, b"2.7.0 Authentication successful")


def test_require_auth_and_auth_over_tls_only(sinkhole, tmp_path):
    server = sinkhole("--mode", "accept", "--auth", "--require-auth")
    client, _ = raw_session(server)
    assert client.command(b"MAIL FROM:<a@example.com>") == (530, b"5.7.0 Authentication required")
    assert client.command(b"AUTH PLAIN " + b64("\0alice\0pw").encode())[0] == 235
    assert client.command(b"MAIL FROM:<a@example.com>") == (250, b"2.1.0 OK")

    ca = tmp_path / "ca.pem"
    tls_only = sinkhole("--mode", "accept", "--auth", "--starttls", "--tls-write-ca", str(ca), "--auth-over-tls-only", "true")
    client = smtplib.SMTP(tls_only.host, tls_only.port, local_hostname="client.test", timeout=15)
    code, text = client.ehlo()
    assert not any(line.startswith(b"AUTH") for line in text.split(b"\n"))
    assert client.docmd("AUTH", "PLAIN " + b64("\0alice\0pw")) == (538, b"5.7.11 Encryption required for requested authentication mechanism")
    client.starttls(context=ssl.create_default_context(cafile=str(ca)))
    code, text = client.ehlo()
    assert f"AUTH {ALL}".encode() in text.split(b"\n")
    assert client.login("alice", "pw") == (235, b"2.7.0 Authentication successful")
    client.sendmail("alice@example.com", ["bob@example.com"], b"Subject: x\r\n\r\ny\r\n")
    client.quit()
    line = tls_only.wait_for_log(lambda e: e.get("event") == "connection" and e.get("outcome") == "quit")
    assert (line["auth_user"], line["tls"]) == ("alice", "TLSv1.3")


def test_withheld_auth_and_badsmtps_ehlo_keywords(sinkhole):
    server = sinkhole("--mode", "accept", "--auth")
    client, lines = raw_session(server, "noauth.client.test")
    assert not any(line.startswith(b"AUTH") for line in lines)
    assert client.command(b"AUTH PLAIN " + b64("\0a\0b").encode()) == (502, b"5.5.1 Command not implemented")
    client, lines = raw_session(server, "authplain.client.test")
    assert b"AUTH PLAIN" in lines
    assert client.command(b"AUTH LOGIN") == (504, b"5.5.4 Unrecognized authentication type")
    client, lines = raw_session(server, "authcram-nopipelining.client.test")
    assert b"AUTH CRAM-MD5 CRAM-SHA256" in lines and b"PIPELINING" not in lines
    # Not offered at all without --auth.
    plain = sinkhole("--mode", "accept")
    client, lines = raw_session(plain)
    assert not any(line.startswith(b"AUTH") for line in lines)
    assert client.command(b"AUTH PLAIN " + b64("\0a\0b").encode()) == (502, b"5.5.1 Command not implemented")
    withheld = sinkhole("--mode", "accept", "--auth", "--no-auth")
    client, lines = raw_session(withheld)
    assert not any(line.startswith(b"AUTH") for line in lines)


def test_badsmtp_personality_puts_auth_first_and_its_trigger_fires(sinkhole):
    server = sinkhole("--mode", "accept", "--auth", "--personality", "badsmtp")
    client, lines = raw_session(server)
    assert lines[:2] == [b"badsmtp.test", f"AUTH {ALL}".encode()]
    # BadSMTP's armed trigger: MAIL FROM arms it, RSET leaves the transaction, AUTH fires it.
    assert client.command(b"MAIL FROM:<auth535@example.com>") == (250, b"OK")
    assert client.command(b"RSET") == (250, b"OK")
    assert client.command(b"AUTH PLAIN " + b64("\0alice\0pw").encode()) == (535, b"Authentication failed")
    # BadSMTP's own words for AUTH's outcomes (a new session: the armed trigger lasts until a message).
    client, _ = raw_session(server)
    assert client.command(b"AUTH GSSAPI") == (504, b"Authentication mechanism not supported")
    assert client.command(b"AUTH PLAIN " + b64("\0badauth@x\0pw").encode()) == (535, b"Authentication failed")
    assert client.command(b"AUTH PLAIN " + b64("\0goodauth@x\0pw").encode()) == (235, b"Authentication successful")


def test_auth_through_rules_and_mailpits_chaos(sinkhole, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: no-cram
            command: AUTH
            condition: {operator: prefix, matchingValue: CRAM-}
            response: {code: 504, enhancedCode: 5.5.4, message: Not that one}
          - id: slow
            command: AUTH
            condition: {operator: contains, matchingValue: slow@}
            response: {delay: 500ms}
          - id: fail-first
            command: AUTH
            condition: {operator: contains, matchingValue: flaky}
            count_per: client_ip
            responses:
              - {code: 454, enhancedCode: 4.7.0, message: Temporary authentication failure}
              - pass
    """))
    server = sinkhole("--mode", "accept", "--auth", "--rules", str(rules))
    assert login(server, "CRAM-MD5", "alice", "pw") == (504, b"5.5.4 Not that one")
    assert login(server, "PLAIN", "flaky@example.com", "pw") == (454, b"4.7.0 Temporary authentication failure")
    assert login(server, "PLAIN", "flaky@example.com", "pw") == (235, b"2.7.0 Authentication successful")
    started = time.monotonic()
    assert login(server, "LOGIN", "slow@example.com", "pw") == (235, b"2.7.0 Authentication successful")
    assert time.monotonic() - started >= 0.5
    line = server.wait_for_log(lambda e: e.get("event") == "connection" and e.get("rule") == "no-cram")
    assert line["decided_at"] == "AUTH"
    response = requests.put(f"http://127.0.0.1:{server.http_port}/api/v1/chaos",
                            json={"Authentication": {"ErrorCode": 535, "Probability": 100}}, timeout=10)
    assert response.status_code == 200
    assert login(server, "PLAIN", "alice", "pw") == (535, b"Chaos authentication error")


def test_no_secret_reaches_a_log_or_the_journal(sinkhole, tmp_path):
    users = tmp_path / "users"
    users.write_text(f"alice@example.com:{PASSWORD}\nbob:{TOKEN}\n")
    server = sinkhole("--mode", "accept", "--auth-users", str(users), "--log-level", "trace", "--capture", "memory")
    blobs = []
    for mechanism in ALL.split():
        secret = TOKEN if mechanism in ("XOAUTH2", "OAUTHBEARER") else PASSWORD
        user = "bob" if secret == TOKEN else "alice@example.com"
        assert login(server, mechanism, user, secret)[0] == 235
        assert login(server, mechanism, user, secret + "-wrong")[0] == 535
    blobs.append(b64("\0alice@example.com\0" + PASSWORD))
    blobs.append(b64(PASSWORD))
    blobs.append(b64(f"user=bob\x01auth=Bearer {TOKEN}\x01\x01"))
    client, _ = raw_session(server)
    assert client.command(b"AUTH PLAIN " + blobs[0].encode())[0] == 235
    client.close()
    server.wait_for_logs(lambda e: e.get("event") == "connection", 13)
    sessions = requests.get(f"http://127.0.0.1:{server.http_port}/api/v1/sessions", timeout=10).json()["sessions"]
    transcripts = [requests.get(f"http://127.0.0.1:{server.http_port}/api/v1/sessions/{s['id']}", timeout=10).text
                   for s in sessions]
    everything = server.stdout_text() + "\n".join(server.stderr_lines) + "\n".join(transcripts)
    for secret in [PASSWORD, TOKEN, *blobs, b64(PASSWORD + "-wrong")]:
        assert secret not in everything, f"a secret reached the logs or the journal: {secret[:6]}…"
    # What the journal keeps of an AUTH: the verb and the mechanism.
    assert "AUTH PLAIN <initial response not kept>" in "".join(transcripts)
    assert "<AUTH response, not kept>" in "".join(transcripts)


# -- EHLO capability switches ----------------------------------------------

def test_each_keyword_can_be_withheld(sinkhole):
    everything = sinkhole("--mode", "accept", "--auth")
    _, lines = raw_session(everything)
    assert lines[1:] == [b"PIPELINING", b"SIZE 26214400", f"AUTH {ALL}".encode(), b"8BITMIME",
                         b"ENHANCEDSTATUSCODES", b"SMTPUTF8", b"DSN", b"CHUNKING", b"BINARYMIME",
                         b"XCLIENT NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT", b"XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"]
    fewer = sinkhole("--mode", "accept", "--auth", "--no-pipelining", "--no-8bitmime", "--no-smtputf8", "--no-auth",
                     "--no-dsn", "--no-chunking", "--no-xclient", "--no-xforward")
    _, lines = raw_session(fewer)
    assert lines[1:] == [b"SIZE 26214400", b"ENHANCEDSTATUSCODES"]


def test_no_enhancedstatuscodes_sends_none(sinkhole):
    server = sinkhole("--mode", "accept", "--no-enhancedstatuscodes")
    client = server.raw()
    assert client.reply()[0] == 220
    # Before EHLO too.
    assert client.command(b"MAIL FROM:<a@example.com>") == (503, b"Send HELO/EHLO first")
    client.send(b"EHLO client.test\r\n")
    _, lines = client.reply()
    assert b"ENHANCEDSTATUSCODES" not in lines
    assert client.command(b"MAIL FROM:<a@example.com>") == (250, b"OK")
    assert client.command(b"QUIT") == (221, b"Bye")


def test_no_esmtp_is_helo_only_and_smtplib_falls_back(sinkhole):
    server = sinkhole("--mode", "accept", "--no-esmtp")
    client = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=15)
    assert client.ehlo() == (500, b"5.5.2 Command not recognized")
    assert client.helo() == (250, HOSTNAME.encode())
    # smtplib's sendmail tries EHLO, then HELO.
    assert client.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\ny\r\n") == {}
    client.quit()
    raw = server.raw()
    assert raw.reply() == (220, [f"{HOSTNAME} sinkhole".encode()])


def test_greeting_text_and_the_pix_greeting(sinkhole):
    server = sinkhole("--mode", "accept", "--greeting", "mx.example.com ESMTP Postfix (Debian/GNU)")
    client = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=15)
    assert client.ehlo()[0] == 250
    client.quit()
    raw = server.raw()
    assert raw.reply() == (220, [b"mx.example.com ESMTP Postfix (Debian/GNU)"])
    # smtp-sink's -P, compared with smtp-sink -P itself: a masked banner, no ESMTP.
    pix = sinkhole("--mode", "accept", "--pix-greeting")
    raw = pix.raw()
    assert raw.reply() == (220, [b"********"])
    raw.send(b"EHLO client.test\r\n")
    assert raw.reply() == (500, [b"5.5.2 Command not recognized"])
    assert raw.command(b"HELO client.test") == (250, HOSTNAME.encode())


@pytest.mark.parametrize("args, fragment", [
    (["--greeting", ""], "a greeting is one line of text"),
    (["--greeting", "x", "--pix-greeting"], "give greeting or pix-greeting, not both"),
])
def test_greeting_errors_exit_2(args, fragment):
    from conftest import assert_one_line_error, run_sinkhole
    result = run_sinkhole("--http-listen", "none", *args)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, fragment)
