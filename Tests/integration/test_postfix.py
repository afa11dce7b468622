"""A real MTA against sinkhole: a private Postfix routes sinkhole.test to it.

This is the queue-persistence sequence of docs/testing/queue-persistence.md
in miniature, with Postfix standing in for smtp-out's sendmail and a Postfix
restart standing in for a task replacement (the queue directory survives
both): defer queues the message, it survives the restart, accept-log drains
it. Then what bounce and greylist do to a real MTA.

Each test runs its own sinkhole and its own Postfix instance (see
postfix_harness.py). Postfix retries only when a test flushes its queue.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil

import pytest

from postfix_harness import SENDER, PostfixInstance, find_postfix, make_message, new_instance_root

RECIPIENT = "anything@sinkhole.test"
SWITCH_DEADLINE = 5.0  # seconds; the mode file's TTL is 300 ms
DEFER_REASON = "host 127.0.0.1[127.0.0.1] said: 421 4.3.2 Service temporarily unavailable (in reply to RCPT TO command)"
GREYLIST_REASON = "host 127.0.0.1[127.0.0.1] said: 421 4.3.2 Greylisted, try again later (in reply to RCPT TO command)"
BOUNCE_REASON = "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command)"
SINKHOLE_QUEUED = re.compile(r"250 2\.0\.0 OK queued as ([0-9A-F]{16,})")


@pytest.fixture
def postfix():
    """Starts private Postfix instances relaying sinkhole.test: `mta = postfix(server.port)`.

    Every instance is stopped and its directory removed afterwards. A warning,
    error, fatal or panic in an instance's log fails the test's teardown.
    """
    tools = find_postfix()
    roots = []
    instances: list[PostfixInstance] = []

    def start(relay_port: int, extra_config: str = "", allowed_problems: tuple[str, ...] = ()) -> PostfixInstance:
        root = new_instance_root()
        roots.append(root)
        instance = PostfixInstance(tools, root, relay_port, extra_config, allowed_problems)
        instances.append(instance)
        instance.start()
        return instance

    yield start

    failures = []
    try:
        for instance in instances:
            instance.stop()
            if instance.running():
                failures.append(f"{instance.root}: Postfix still running after stop and SIGKILL")
            failures.extend(instance.problems())
    finally:
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
    assert not failures, failures


def write_mode(path, text: str) -> None:
    """Replaces the mode file atomically, so sinkhole never reads it half written."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def sent_reply(mta: PostfixInstance, queue_id: str, port: int) -> str:
    """The reply in Postfix's `status=sent` line for `queue_id` (sinkhole's `250 ... queued as`)."""
    line = mta.wait_for_maillog(
        rf"smtp\[\d+\]: {queue_id}: to=<{re.escape(RECIPIENT)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{port}, "
        r".* dsn=2\.0\.0, status=sent \((.*)\)$"
    )
    return line.group(1)


def test_deferred_message_survives_a_restart_and_drains_after_accept_log(sinkhole, postfix, tmp_path):
    mode_file = tmp_path / "mode"
    write_mode(mode_file, "defer")
    server = sinkhole("--mode-source", f"file:{mode_file}", "--mode-cache-ttl", "300ms")
    assert server.listening["mode"] == "defer"
    mta = postfix(server.port)

    # 1. defer: the message stays queued, with sinkhole's reply as the reason.
    message_id, message = make_message("queue persistence")
    mta.sendmail(message)
    queue_id = mta.queue_id_of(message_id)
    entry = mta.wait_for_deferred(queue_id)
    assert entry["sender"] == SENDER
    assert entry["recipients"] == [{"address": RECIPIENT, "delay_reason": DEFER_REASON}]
    refused = server.wait_for_log(lambda e: e["event"] == "connection")
    assert (refused["mode"], refused["outcome"], refused["last_reply"]) == ("defer", "refused", 421)

    # A retry in defer mode changes nothing: deferred again, for the same reason.
    mta.flush()
    mta.wait_for_maillog(rf"smtp\[\d+\]: {queue_id}: .* status=deferred \({re.escape(DEFER_REASON)}\)$", count=2)
    entry = mta.wait_for_deferred(queue_id)
    assert entry["recipients"] == [{"address": RECIPIENT, "delay_reason": DEFER_REASON}]
    assert len(server.wait_for_logs(lambda e: e["event"] == "connection" and e["last_reply"] == 421, 2)) == 2

    # 2. Postfix stopped and started again (a task replacement): the queue
    # file waits on disk while nothing runs, and the same message is queued after.
    mta.stop()
    assert not mta.running()
    assert len(mta.queue_file(queue_id, "deferred")) == 1
    mta.start()
    entry = mta.wait_for_deferred(queue_id)
    assert entry["recipients"] == [{"address": RECIPIENT, "delay_reason": DEFER_REASON}]
    assert [e["queue_id"] for e in mta.queue()] == [queue_id]
    mta.wait_for_maillog(r"master\[\d+\]: daemon started -- version ", count=2)

    # 3. accept-log, then a flush: delivered, logged with its Message-ID, queue empty.
    mark = server.mark()
    write_mode(mode_file, "accept-log")
    changed = server.wait_for_log(lambda e: e["event"] == "mode_changed", timeout=SWITCH_DEADLINE, start=mark)
    assert (changed["old"], changed["new"]) == ("defer", "accept-log")
    mta.flush()
    logged = server.wait_for_log(lambda e: e["event"] == "message", timeout=10)
    headers = email.message_from_string(logged["headers"], policy=email.policy.default)
    assert headers["Message-ID"] == message_id
    assert logged["mail_from"] == f"<{SENDER}>"
    assert logged["rcpt"] == [f"<{RECIPIENT}>"]
    assert sent_reply(mta, queue_id, server.port) == f"250 2.0.0 OK queued as {logged['queue_id']}"
    mta.wait_for_empty_queue()
    assert mta.queue_file(queue_id, "deferred") == []
    delivered = server.wait_for_log(lambda e: e["event"] == "connection" and e["mode"] == "accept-log")
    assert (delivered["outcome"], delivered["messages"], delivered["rcpt_accepted"]) == ("quit", 1, 1)


def test_bounce_returns_a_dsn_with_550_5_1_1_to_the_sender(sinkhole, postfix):
    server = sinkhole("--mode", "bounce")
    mta = postfix(server.port)
    message_id, message = make_message("bounce")
    mta.sendmail(message)
    queue_id = mta.queue_id_of(message_id)

    mta.wait_for_maillog(rf"smtp\[\d+\]: {queue_id}: .* dsn=5\.1\.1, status=bounced \({re.escape(BOUNCE_REASON)}\)$")
    dsn_id, dsn = mta.wait_for_bounce(queue_id)
    assert dsn["Subject"] == "Undelivered Mail Returned to Sender"
    assert dsn["From"] == "Mail Delivery System <MAILER-DAEMON@mta.postfix.test>"
    assert dsn["To"] == SENDER
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"

    notification, report, returned = dsn.iter_parts()
    # The human-readable part wraps its lines; compare with the whitespace folded.
    text = " ".join(notification.get_content().split())
    assert f"<{RECIPIENT}>: {BOUNCE_REASON}" in text

    assert report.get_content_type() == "message/delivery-status"
    per_message, per_recipient = report.get_payload()
    assert per_message["X-Postfix-Queue-ID"] == queue_id
    assert per_message["X-Postfix-Sender"] == f"rfc822; {SENDER}"
    recipient = {key: per_recipient[key] for key in ["Final-Recipient", "Action", "Status", "Diagnostic-Code"]}
    assert recipient == {
        "Final-Recipient": f"rfc822; {RECIPIENT}",
        "Action": "failed",
        "Status": "5.1.1",
        "Diagnostic-Code": "smtp; 550 5.1.1 User unknown",
    }

    assert returned.get_content_type() == "message/rfc822"
    assert returned.get_payload()[0]["Message-ID"] == message_id

    # Nothing left queued: the original bounced, its DSN delivered.
    mta.wait_for_empty_queue()
    refused = server.wait_for_log(lambda e: e["event"] == "connection")
    assert (refused["mode"], refused["rcpt_refused"], refused["rcpt_accepted"], refused["messages"]) == (
        "bounce", 1, 0, 0,
    )


def test_greylist_defers_the_first_attempt_and_delivers_the_flushed_retry(sinkhole, postfix):
    server = sinkhole("--mode", "greylist", "--greylist-window", "10m")
    mta = postfix(server.port)
    message_id, message = make_message("greylist")
    mta.sendmail(message)
    queue_id = mta.queue_id_of(message_id)

    entry = mta.wait_for_deferred(queue_id)
    assert entry["recipients"] == [{"address": RECIPIENT, "delay_reason": GREYLIST_REASON}]
    first = server.wait_for_log(lambda e: e["event"] == "connection")
    assert (first["mode"], first["decided_by"], first["last_reply"]) == ("greylist", "greylist", 421)

    mark = server.mark()
    mta.flush()
    reply = sent_reply(mta, queue_id, server.port)
    assert SINKHOLE_QUEUED.fullmatch(reply), reply
    retry = server.wait_for_log(lambda e: e["event"] == "connection", start=mark)
    assert (retry["mode"], retry["outcome"], retry["rcpt_accepted"], retry["messages"]) == ("greylist", "quit", 1, 1)
    mta.wait_for_empty_queue()


def test_a_rcpt_greylist_defers_only_the_greylisted_recipient_of_a_two_recipient_message(sinkhole, postfix):
    """Greylisting as Postgrey does it (per triplet, 450 at RCPT, session kept):
    Postfix delivers to the recipient that passes and defers only the other."""
    server = sinkhole("--mode", "greylist", "--greylist-key", "triplet", "--greylist-answer", "rcpt",
                      "--greylist-reply", "450 4.7.1 Greylisted, try again later", "--greylist-window", "10m")
    mta = postfix(server.port)
    known, new = "known@sinkhole.test", "new@sinkhole.test"

    # First the known recipient alone: greylisted, then its retry passes.
    message_id, message = make_message("seen before")
    mta.sendmail(message, recipient=known)
    first_id = mta.queue_id_of(message_id)
    mta.wait_for_deferred(first_id)
    mta.flush()
    mta.wait_for_maillog(rf"{first_id}: to=<{re.escape(known)}>, .* status=sent")
    mta.wait_for_empty_queue()

    # Then both: the known triplet passes, the new one is deferred.
    mark = server.mark()
    message_id, message = make_message("two recipients")
    mta.sendmail(message, recipient=known, also=(new,))
    queue_id = mta.queue_id_of(message_id)
    mta.wait_for_maillog(rf"{queue_id}: to=<{re.escape(known)}>, .* status=sent")
    entry = mta.wait_for_deferred(queue_id)
    assert entry["recipients"] == [{
        "address": new,
        "delay_reason": "host 127.0.0.1[127.0.0.1] said: 450 4.7.1 Greylisted, try again later (in reply to RCPT TO command)",
    }]
    line = server.wait_for_log(lambda e: e["event"] == "connection" and e.get("messages") == 1, start=mark)
    assert (line["rcpt_accepted"], line["rcpt_refused"], line["decided_by"], line["greylist"]) == (1, 1, "greylist", "new")


# -- STARTTLS: Postfix as smtp-out with opportunistic TLS -------------------

STARTTLS_RULES = """\
rules:
  - id: refuse-tls
    command: STARTTLS
    condition: {field: listener, operator: equals, matchingValue: refuse}
    response: {code: 454, enhancedCode: 4.7.0, message: TLS not available due to temporary reason}
  - id: break-tls
    command: STARTTLS
    condition: {field: listener, operator: equals, matchingValue: break}
    response: {action: tls_close}
  - id: garbage-tls
    command: STARTTLS
    condition: {field: listener, operator: equals, matchingValue: garbage}
    response: {action: tls_garbage}
"""


def opportunistic(ca) -> str:
    """smtp-out's TLS: `may` (opportunistic), the handshake logged, sinkhole's CA trusted."""
    return f"smtp_tls_security_level = may\nsmtp_tls_loglevel = 1\nsmtp_tls_CAfile = {ca}\n"


def tls_sinkhole(sinkhole, tmp_path, listener: str = "plain"):
    ca = tmp_path / "ca.pem"
    rules = tmp_path / "starttls.yaml"
    rules.write_text(STARTTLS_RULES)
    server = sinkhole("--mode", "accept", "--starttls", "--tls-write-ca", str(ca), "--rules", str(rules),
                      "--listen", f"127.0.0.1:0,name={listener}")
    # The fixture's own --listen comes first; the named one is the second.
    port = int(server.wait_for_logs(lambda e: e.get("event") == "listening", 2)[1]["address"].rpartition(":")[2])
    return server, str(ca), port


def test_postfix_sends_over_starttls_when_sinkhole_offers_it(sinkhole, postfix, tmp_path):
    server, ca, port = tls_sinkhole(sinkhole, tmp_path)
    mta = postfix(port, opportunistic(ca))
    message_id, message = make_message("starttls offered")
    mta.sendmail(message)
    queue_id = mta.queue_id_of(message_id)
    established = mta.wait_for_maillog(
        rf"smtp\[\d+\]: Trusted TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:{port}: (TLSv1\.[23]) with cipher (\S+)")
    reply = sent_reply(mta, queue_id, port)
    assert SINKHOLE_QUEUED.fullmatch(reply), reply
    session = server.wait_for_log(lambda e: e["event"] == "connection" and e.get("outcome") == "quit")
    assert session["tls"] == established.group(1) and session["messages"] == 1
    mta.wait_for_empty_queue()


def test_postfix_falls_back_to_plain_after_a_454_to_starttls(sinkhole, postfix, tmp_path):
    server, ca, port = tls_sinkhole(sinkhole, tmp_path, "refuse")
    mta = postfix(port, opportunistic(ca))
    message_id, message = make_message("starttls refused")
    mta.sendmail(message)
    queue_id = mta.queue_id_of(message_id)
    reply = sent_reply(mta, queue_id, port)
    assert SINKHOLE_QUEUED.fullmatch(reply), reply
    # Postfix (smtp_tls_loglevel 1) logs no word about the refusal: the
    # delivery is simply in plain. sinkhole's line says what happened.
    assert "TLS connection established" not in mta.maillog_text()
    session = server.wait_for_log(lambda e: e["event"] == "connection" and e.get("outcome") == "quit")
    assert "tls" not in session
    assert (session["decided_at"], session["rule"], session["messages"]) == ("STARTTLS", "refuse-tls", 1)
    mta.wait_for_empty_queue()


@pytest.mark.parametrize("listener, postfix_says", [
    ("break", "lost connection"),
    # OpenSSL's words for bytes that are no TLS record, logged by Postfix as a warning.
    ("garbage", "-1"),
])
def test_postfix_defers_after_a_broken_handshake_and_does_not_retry_in_plain(sinkhole, postfix, tmp_path, listener,
                                                                             postfix_says):
    server, ca, port = tls_sinkhole(sinkhole, tmp_path, listener)
    mta = postfix(port, opportunistic(ca), allowed_problems=(r"warning: TLS library problem: .*wrong version number",))
    message_id, message = make_message(f"starttls {listener}")
    mta.sendmail(message)
    queue_id = mta.queue_id_of(message_id)
    entry = mta.wait_for_deferred(queue_id)
    assert entry["recipients"] == [{"address": RECIPIENT, "delay_reason": "Cannot start TLS: handshake failure"}]
    mta.wait_for_maillog(rf"smtp\[\d+\]: SSL_connect error to 127\.0\.0\.1\[127\.0\.0\.1\]:{port}: {re.escape(postfix_says)}$")
    mta.wait_for_maillog(rf"smtp\[\d+\]: {queue_id}: .* dsn=4\.7\.5, status=deferred \(Cannot start TLS: handshake failure\)$")
    # The retry tries STARTTLS again, and is deferred again: no plaintext fallback to the same host.
    mta.flush()
    mta.wait_for_maillog(rf"smtp\[\d+\]: {queue_id}: .* dsn=4\.7\.5, status=deferred \(Cannot start TLS: handshake failure\)$",
                         count=2)
    how = {"break": "close", "garbage": "garbage"}[listener]
    broken = server.wait_for_logs(lambda e: e["event"] == "tls_broken" and e.get("how") == how, 2)
    assert len(broken) == 2
    assert not server.logs(lambda e: e["event"] == "connection" and e.get("messages", 0) > 0)
