"""Apache James mock-server compatibility over HTTP (james-mock-smtp-spec.md):
the /smtpBehaviors, /smtpExtensions, /smtpMails, /smtpMailsCount and /version
routes on the operations listener and on --james-listen, behaviours taking
effect on the SMTP side, captured mail (--capture memory), and the API token.

Where sinkhole differs from James on purpose (rules.md, "Apache James
compatibility"), the tests assert sinkhole's side: its normal reply texts,
behaviours firing at every command, a 421 that closes, no transaction after
a refused MAIL, no Received header in `message`.

No test sleeps to wait: stored mail is polled with a deadline (James stores
a mail just after its 250), connection ends are awaited in the log.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time

import pytest
import requests

from conftest import HOSTNAME, assert_one_line_error, queue_id, raw_session, run_sinkhole

TIMEOUT = 10.0
MAIL_OK = (250, b"2.1.0 OK")
RCPT_OK = (250, b"2.1.5 OK")
START_INPUT = (354, b"End data with <CR><LF>.<CR><LF>")
NEED_MAIL = (503, b"5.5.1 Need MAIL command")
SINKHOLE_KEYWORDS = [b"PIPELINING", b"SIZE 26214400", b"8BITMIME", b"ENHANCEDSTATUSCODES", b"SMTPUTF8",
                     b"DSN", b"CHUNKING", b"BINARYMIME", b"XCLIENT NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT", b"XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"]
TOKEN = "tok-3b9f1c7e5a2d4e6f8a0b"

# James's Fixture.JSON_BEHAVIORS (spec §3.6), verbatim.
FIXTURE_BEHAVIORS = """[{"response":{"code":250,"message":"OK"},
  "condition":{"operator":"contains","matchingValue":"matchme"},
  "command":"EHLO","numberOfAnswer":7},
 {"condition":{"operator":"matchAll"},
  "response":{"code":250,"message":"OK"},
  "command":"EHLO"}]"""


# -- helpers ------------------------------------------------------------------


class Api:
    """The James routes of one listener, with or without a bearer token."""

    def __init__(self, port: int, token: str | None = None):
        self.base = f"http://127.0.0.1:{port}"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, path: str, body: str | bytes | None = None,
                headers: dict[str, str] | None = None) -> requests.Response:
        return requests.request(method, self.base + path, data=body, headers={**self.headers, **(headers or {})},
                                timeout=TIMEOUT)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def put(self, path: str, body: str | bytes, **kw) -> requests.Response:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def get_json(self, path: str):
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
        return response.json()

    def behaviors(self) -> list[dict]:
        return self.get_json("/smtpBehaviors")

    def set_behaviors(self, behaviors) -> None:
        body = behaviors if isinstance(behaviors, str) else json.dumps(behaviors)
        response = self.put("/smtpBehaviors", body)
        assert (response.status_code, response.content) == (204, b""), (response.status_code, response.text)

    def extensions(self) -> list[str]:
        return self.get_json("/smtpExtensions")

    def set_extensions(self, extensions: list[str]) -> None:
        response = self.put("/smtpExtensions", json.dumps(extensions))
        assert (response.status_code, response.content) == (204, b""), (response.status_code, response.text)

    def mails(self) -> list[dict]:
        return self.get_json("/smtpMails")

    def count(self) -> int:
        response = self.get("/smtpMailsCount")
        assert response.status_code == 200, response.status_code
        assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
        assert re.fullmatch(r"\d+\s*", response.text), f"not a bare integer: {response.text!r}"
        return int(response.text)

    def drain(self) -> list[dict]:
        response = self.delete("/smtpMails")
        assert response.status_code == 200, (response.status_code, response.text)
        assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
        drained = response.json()
        assert isinstance(drained, list), drained
        return drained

    def wait_for_mails(self, count: int, timeout: float = 5.0) -> list[dict]:
        """GET /smtpMails until it holds `count` mails (James stores just after the 250)."""
        deadline = time.monotonic() + timeout
        while True:
            mails = self.mails()
            if len(mails) >= count or time.monotonic() > deadline:
                assert len(mails) == count, f"wanted {count} stored mails, have {len(mails)}: {mails}"
                return mails
            time.sleep(0.02)


def main_api(server, token: str | None = None) -> Api:
    return Api(server.http_port, token)


def james_port(server) -> int:
    line = server.wait_for_log(lambda e: e.get("event") == "james_listening", timeout=20)
    host, _, port = line["address"].rpartition(":")
    assert host == "127.0.0.1", line
    return int(port)


def behavior(command: str, code, message: str, contains: str | None = None, times: int | None = None) -> dict:
    condition = {"operator": "matchAll"} if contains is None else {"operator": "contains", "matchingValue": contains}
    out = {"command": command, "condition": condition, "response": {"code": code, "message": message}}
    if times is not None:
        out["numberOfAnswer"] = times
    return out


def normalized(behaviors: list[dict]) -> list[str]:
    """Order-free, null-as-absent form, as James's HTTP tests compare."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return sorted(json.dumps(clean(b), sort_keys=True) for b in behaviors)


def send_mail(client, sender: str, recipients: list[str], text: bytes, mail_params: str = "") -> str:
    """One whole transaction on a raw session; returns the queue id."""
    line = f"MAIL FROM:<{sender}>" + (f" {mail_params}" if mail_params else "")
    assert client.command(line.encode()) == MAIL_OK
    for recipient in recipients:
        assert client.command(f"RCPT TO:<{recipient}>".encode()) == RCPT_OK, recipient
    assert client.command(b"DATA") == START_INPUT
    client.send(text + b".\r\n")
    return queue_id(client.reply1())


def ehlo_lines(server) -> list[bytes]:
    client = server.raw()
    client.reply()
    client.send(b"EHLO client.test\r\n")
    code, lines = client.reply()
    assert code == 250, (code, lines)
    client.command(b"QUIT")
    client.close()
    return lines


def wait_stdout_closed(server, timeout: float = 10.0) -> None:
    with server._cond:
        assert server._cond.wait_for(lambda: server._stdout_done, timeout=timeout)


@pytest.fixture
def server(sinkhole):
    """An accepting sinkhole that captures mail, with a James-only listener too."""
    return sinkhole("--mode", "accept", "--capture", "memory", "--james-listen", "127.0.0.1:0")


@pytest.fixture
def api(server) -> Api:
    return main_api(server)


# -- the routes -----------------------------------------------------------------


def test_version_is_plain_0_4_on_both_listeners(server):
    for port in (server.http_port, james_port(server)):
        response = Api(port).get("/version")
        assert (response.status_code, response.text) == (200, "0.4")


def test_a_fresh_server_has_no_behaviors_extensions_or_mails(api):
    assert api.behaviors() == []
    assert api.extensions() == []
    assert api.mails() == []
    assert api.count() == 0
    assert api.drain() == []


def test_the_james_fixture_round_trips(api):
    api.set_behaviors(FIXTURE_BEHAVIORS)
    listed = api.behaviors()
    assert normalized(listed) == normalized(json.loads(FIXTURE_BEHAVIORS))
    # The unlimited one is listed with an explicit null.
    unlimited = [b for b in listed if b["condition"] == {"operator": "matchAll"}]
    assert len(unlimited) == 1 and "numberOfAnswer" in unlimited[0] and unlimited[0]["numberOfAnswer"] is None


def test_put_is_idempotent_and_replaces_the_whole_list(api):
    first = [behavior("RCPT TO", 550, "5.1.1 first", contains="@a.example")]
    second = [behavior("MAIL FROM", 553, "5.7.1 second", times=3), behavior("DATA", 554, "5.6.0 third")]
    api.set_behaviors(first)
    api.set_behaviors(first)  # putShouldBeIdempotent: 204 again, one entry
    assert normalized(api.behaviors()) == normalized(first)
    api.set_behaviors(second)
    assert normalized(api.behaviors()) == normalized(second)
    api.set_behaviors([])
    assert api.behaviors() == []


def test_delete_behaviors_is_204_and_empties_the_list(api):
    api.set_behaviors(FIXTURE_BEHAVIORS)
    response = api.delete("/smtpBehaviors")
    assert (response.status_code, response.content) == (204, b"")
    assert api.behaviors() == []


def test_a_code_given_as_a_string_is_listed_as_an_integer(api):
    api.set_behaviors('[{"command": "RCPT TO",'
                      ' "condition": {"operator": "contains", "matchingValue": "@cat.construction"},'
                      ' "response": {"code": "501", "message": "5.1.3 Bad recipient address syntax"},'
                      ' "numberOfAnswer": null}]')
    [listed] = api.behaviors()
    assert listed["command"] == "RCPT TO"
    assert listed["condition"] == {"operator": "contains", "matchingValue": "@cat.construction"}
    assert listed["response"] == {"code": 501, "message": "5.1.3 Bad recipient address syntax"}
    assert "numberOfAnswer" in listed and listed["numberOfAnswer"] is None


GOOD = behavior("RCPT TO", 550, "5.1.1 no")


def without(key: str, value: dict = GOOD) -> dict:
    return {k: v for k, v in value.items() if k != key}


BAD_BEHAVIORS = {
    "malformed": "[{",
    "not json": "not json",
    "an object, not an array": json.dumps(GOOD),
    "unknown command": json.dumps([{**GOOD, "command": "FOO"}]),
    "lower-case command": json.dumps([{**GOOD, "command": "rcpt to"}]),
    "underscore command": json.dumps([{**GOOD, "command": "RCPT_TO"}]),
    "no command": json.dumps([without("command")]),
    "no response": json.dumps([without("response")]),
    "no condition": json.dumps([without("condition")]),
    "no operator": json.dumps([{**GOOD, "condition": {}}]),
    "unknown operator": json.dumps([{**GOOD, "condition": {"operator": "regex", "matchingValue": "x"}}]),
    "contains without a value": json.dumps([{**GOOD, "condition": {"operator": "contains"}}]),
    "matchAll with a value": json.dumps([{**GOOD, "condition": {"operator": "matchAll", "matchingValue": "x"}}]),
    "null matchingValue": json.dumps([{**GOOD, "condition": {"operator": "matchAll", "matchingValue": None}}]),
    "code 599": json.dumps([behavior("RCPT TO", 599, "x")]),
    "code 454": json.dumps([behavior("RCPT TO", 454, "x")]),
    "code 0": json.dumps([behavior("RCPT TO", 0, "x")]),
    "code -1": json.dumps([behavior("RCPT TO", -1, "x")]),
    "code 600": json.dumps([behavior("RCPT TO", 600, "x")]),
    "code 99": json.dumps([behavior("RCPT TO", 99, "x")]),
    "no code": json.dumps([{**GOOD, "response": {"message": "x"}}]),
    "no message": json.dumps([{**GOOD, "response": {"code": 550}}]),
    "numberOfAnswer 0": json.dumps([{**GOOD, "numberOfAnswer": 0}]),
    "numberOfAnswer -1": json.dumps([{**GOOD, "numberOfAnswer": -1}]),
    "unknown field": json.dumps([{**GOOD, "remaining": 3}]),
    "one bad among good ones": json.dumps([GOOD, {**GOOD, "command": "FOO"}]),
}


@pytest.mark.parametrize("body", BAD_BEHAVIORS.values(), ids=BAD_BEHAVIORS.keys())
def test_bad_behavior_json_is_400_with_an_empty_body_and_changes_nothing(api, body):
    kept = [behavior("MAIL FROM", 553, "5.7.1 kept", contains="keep", times=2)]
    api.set_behaviors(kept)
    response = api.put("/smtpBehaviors", body)
    assert (response.status_code, response.content) == (400, b"")
    assert normalized(api.behaviors()) == normalized(kept)


def test_bad_json_is_400_on_the_james_listener_too(server):
    response = Api(james_port(server)).put("/smtpBehaviors", BAD_BEHAVIORS["unknown operator"])
    assert (response.status_code, response.content) == (400, b"")
    response = Api(james_port(server)).put("/smtpExtensions", "{")
    assert (response.status_code, response.content) == (400, b"")


def test_an_empty_put_body_is_200_and_changes_nothing(api):
    kept = [behavior("RCPT TO", 550, "5.1.1 kept")]
    api.set_behaviors(kept)
    api.set_extensions(["DSN"])
    for path in ("/smtpBehaviors", "/smtpExtensions"):
        response = api.put(path, b"")
        assert (response.status_code, response.content) == (200, b""), path
    assert normalized(api.behaviors()) == normalized(kept)
    assert api.extensions() == ["DSN"]


def test_the_request_content_type_is_ignored(api):
    # James's README posts with curl's default form content type.
    wanted = [behavior("RCPT TO", "501", "5.1.3 Bad recipient address syntax", contains="@cat.construction")]
    response = api.put("/smtpBehaviors", json.dumps(wanted),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (response.status_code, response.content) == (204, b"")
    assert api.behaviors()[0]["response"]["code"] == 501
    response = api.put("/smtpExtensions", '["DSN"]', headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.content) == (204, b"")
    assert api.extensions() == ["DSN"]


def test_extensions_put_get_delete_keep_order_duplicates_and_case(api):
    api.set_extensions(["DSN", "XYZ"])
    assert api.extensions() == ["DSN", "XYZ"]
    api.set_extensions(["MT-PRIORITY", "dsn", "MT-PRIORITY"])
    assert api.extensions() == ["MT-PRIORITY", "dsn", "MT-PRIORITY"]
    response = api.delete("/smtpExtensions")
    assert (response.status_code, response.content) == (204, b"")
    assert api.extensions() == []


@pytest.mark.parametrize("body", ['{"a": "DSN"}', '["DSN"', "DSN", '"DSN"'])
def test_bad_extensions_json_is_400_with_an_empty_body(api, body):
    api.set_extensions(["XYZ"])
    response = api.put("/smtpExtensions", body)
    assert (response.status_code, response.content) == (400, b"")
    assert api.extensions() == ["XYZ"]


# -- the --james-listen listener --------------------------------------------------


def test_the_james_listener_logs_its_address_and_shares_state_with_the_main_one(server):
    port = james_port(server)
    assert port not in (server.port, server.http_port)
    james, ops = Api(port), main_api(server)
    shared = [behavior("RCPT TO", 550, "5.1.1 shared", contains="nobody@"),
              behavior("DATA", 554, "5.6.0 x", contains="X-Never:", times=3)]
    james.set_behaviors(shared)
    assert normalized(ops.behaviors()) == normalized(shared)
    ops.set_extensions(["DSN"])
    assert james.extensions() == ["DSN"]
    client = raw_session(server)
    send_mail(client, "bob@james.org", ["alice@james.org"], b"Subject: shared\r\n\r\nshared\r\n")
    ops.wait_for_mails(1)
    assert james.count() == 1
    assert [m["from"] for m in james.drain()] == ["bob@james.org"]
    assert ops.count() == 0
    # The main listener keeps its own routes.
    assert server.http_get("/healthz") == (200, "text/plain; charset=utf-8", "ok\n")


@pytest.mark.parametrize("method, path", [
    ("GET", "/foo"),
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/smtpBehaviors/"),
    ("GET", "/smtpMails/"),
    ("POST", "/smtpBehaviors"),
    ("PATCH", "/smtpBehaviors"),
    ("HEAD", "/smtpBehaviors"),
    ("PUT", "/smtpMails"),
    ("DELETE", "/smtpMailsCount"),
    ("PUT", "/version"),
    ("GET", "/smtpbehaviors"),
])
def test_the_james_listener_answers_anything_else_with_an_empty_404(server, method, path):
    response = Api(james_port(server)).request(method, path, b"[]" if method in ("POST", "PATCH", "PUT") else None)
    assert (response.status_code, response.content) == (404, b"")


def test_the_james_listener_ignores_the_query_string(server):
    james = Api(james_port(server))
    response = james.get("/smtpMailsCount?x=1")
    assert (response.status_code, response.text.strip()) == (200, "0")
    response = james.put("/smtpBehaviors?dry=1", json.dumps([GOOD]))
    assert (response.status_code, response.content) == (204, b"")
    assert normalized(james.behaviors()) == normalized([GOOD])
    response = james.get("/version?v=2")
    assert (response.status_code, response.text) == (200, "0.4")


# -- behaviours on the SMTP side -------------------------------------------------


def test_a_rcpt_behavior_counts_across_connections_and_leaves_the_list_when_used_up(server, api):
    api.set_behaviors([behavior("RCPT TO", 550, "5.1.1 Flaky mailbox", contains="@flaky.example", times=2)])
    first = raw_session(server)
    assert first.command(b"MAIL FROM:<bob@james.org>") == MAIL_OK
    assert first.command(b"RCPT TO:<x@flaky.example>") == (550, b"5.1.1 Flaky mailbox")
    assert first.command(b"RCPT TO:<x@other.example>") == RCPT_OK, "a non-matching recipient"
    # One answer left: still listed, with the numberOfAnswer it was given.
    [listed] = api.behaviors()
    assert listed["numberOfAnswer"] == 2
    second = raw_session(server)
    assert second.command(b"MAIL FROM:<bob@james.org>") == MAIL_OK
    assert second.command(b"RCPT TO:<y@flaky.example>") == (550, b"5.1.1 Flaky mailbox")
    assert api.behaviors() == []
    assert second.command(b"RCPT TO:<y@flaky.example>") == RCPT_OK
    assert first.command(b"RCPT TO:<z@flaky.example>") == RCPT_OK


def test_the_first_matching_behavior_fires_and_only_its_counter_moves(server, api):
    api.set_behaviors([
        behavior("RCPT TO", 550, "5.1.1 A", contains="@a.example", times=1),
        behavior("RCPT TO", 551, "5.1.6 B", times=1),
        behavior("MAIL FROM", 553, "5.7.1 never asked", contains="nobody", times=1),
    ])
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<bob@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<x@b.example>") == (551, b"5.1.6 B")
    remaining = [b["response"]["message"] for b in api.behaviors()]
    assert sorted(remaining) == ["5.1.1 A", "5.7.1 never asked"]
    # Both would match: the first in PUT order answers.
    api.set_behaviors([behavior("RCPT TO", 550, "5.1.1 A", contains="@a.example"),
                       behavior("RCPT TO", 551, "5.1.6 B")])
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<bob@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<y@a.example>") == (550, b"5.1.1 A")
    assert client.command(b"RCPT TO:<y@b.example>") == (551, b"5.1.6 B")


def test_contains_is_a_case_sensitive_plain_substring(server, api):
    api.set_behaviors([behavior("RCPT TO", 550, "5.1.1 Caught", contains="@a.example"),
                       behavior("RCPT TO", 551, "5.1.6 Dot", contains=".*")])
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<bob@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<bob@A.EXAMPLE>") == RCPT_OK
    assert client.command(b"RCPT TO:<bob@xa.example>") == RCPT_OK, "@a.example is not in bob@xa.example"
    assert client.command(b"RCPT TO:<bob@mail.a.example>") == RCPT_OK
    assert client.command(b"RCPT TO:<x.*y@other.example>") == (551, b"5.1.6 Dot"), "no regex"
    assert client.command(b"RCPT TO:<carol@a.example>") == (550, b"5.1.1 Caught")


def test_a_mail_from_behavior_answers_at_mail_and_opens_no_transaction(server, api):
    api.set_behaviors([behavior("MAIL FROM", 553, "5.7.1 No hobbits", contains="frodo")])
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<frodo@shire.example>") == (553, b"5.7.1 No hobbits")
    # sinkhole, unlike James, opens no transaction for a refused MAIL.
    assert client.command(b"RCPT TO:<alice@james.org>") == NEED_MAIL
    send_mail(client, "sam@shire.example", ["alice@james.org"], b"Subject: sam\r\n\r\nsam\r\n")
    [mail] = api.wait_for_mails(1)
    assert mail["from"] == "sam@shire.example"


def test_a_data_behavior_answers_after_the_final_dot_and_the_message_is_not_stored(server, api):
    api.set_behaviors([behavior("DATA", 554, "5.6.0 No thanks", contains="Subject: reject me")])
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<bob@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<alice@james.org>") == RCPT_OK
    assert client.command(b"DATA") == START_INPUT
    client.send(b"Subject: reject me\r\n\r\nbody\r\n.\r\n")
    assert client.reply1() == (554, b"5.6.0 No thanks")
    send_mail(client, "bob@james.org", ["alice@james.org"], b"Subject: keep me\r\n\r\nbody\r\n")
    [mail] = api.wait_for_mails(1)
    assert "Subject: keep me\r\n" in mail["message"]
    assert api.count() == 1
    assert len(api.behaviors()) == 1, "unlimited: still listed"


def test_a_noop_behavior_fires_in_sinkhole(server, api):
    api.set_behaviors([behavior("NOOP", 250, "2.0.0 custom noop", times=1)])
    client = raw_session(server)
    assert client.command(b"NOOP") == (250, b"2.0.0 custom noop")
    assert client.command(b"NOOP") == (250, b"2.0.0 OK")
    assert api.behaviors() == []


def test_a_new_put_resets_the_counters(server, api):
    used_once = [behavior("RCPT TO", 452, "4.2.2 Mailbox full", times=1)]
    api.set_behaviors(used_once)
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<bob@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<alice@james.org>") == (452, b"4.2.2 Mailbox full")
    assert client.command(b"RCPT TO:<alice@james.org>") == RCPT_OK
    assert api.behaviors() == []
    api.set_behaviors(used_once)
    assert normalized(api.behaviors()) == normalized(used_once)
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<bob@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<alice@james.org>") == (452, b"4.2.2 Mailbox full")


def test_deleting_the_behaviors_brings_the_normal_replies_back(server, api):
    api.set_behaviors([behavior("RCPT TO", 521, "5.3.2 Does not accept mail"),
                       behavior("MAIL FROM", 550, "5.7.1 Nope", contains="nope")])
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<nope@james.org>") == (550, b"5.7.1 Nope")
    client.close()
    assert (api.delete("/smtpBehaviors").status_code) == 204
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<nope@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<alice@james.org>") == RCPT_OK


def test_extensions_are_advertised_in_ehlo_after_sinkholes_own(server, api):
    baseline = ehlo_lines(server)
    assert baseline == [HOSTNAME.encode(), *SINKHOLE_KEYWORDS]
    # DSN is sinkhole's own already: not said twice.
    api.set_extensions(["DSN", "XYZ"])
    lines = ehlo_lines(server)
    assert lines[:len(baseline)] == baseline
    assert lines[len(baseline):] == [b"XYZ"], lines
    client = server.smtp()
    client.ehlo()
    assert client.has_extn("dsn") and client.has_extn("xyz")
    client.quit()
    assert api.delete("/smtpExtensions").status_code == 204
    assert ehlo_lines(server) == baseline


# -- stored mail ----------------------------------------------------------------


def test_a_stored_mail_has_james_shape(server, api):
    client = raw_session(server)
    text = (b"From: bob@james.org\r\nTo: alice@james.org, jack@james.org\r\nSubject: shape\r\n\r\n"
            b"line one\r\n..starts with a dot\r\nlast line\r\n")
    send_mail(client, "bob@james.org", ["alice@james.org", "jack@james.org"], text)
    [mail] = api.wait_for_mails(1)
    assert set(mail) == {"from", "recipients", "mailParameters", "message"}, mail
    assert mail["from"] == "bob@james.org"
    assert mail["recipients"] == [{"address": "alice@james.org", "parameters": []},
                                  {"address": "jack@james.org", "parameters": []}]
    assert mail["mailParameters"] == []
    # Dot-unstuffed, CRLF line ends, up to the CRLF before the final dot.
    assert text.replace(b"\r\n..", b"\r\n.").decode() in mail["message"]
    assert mail["message"].endswith("last line\r\n")
    assert api.count() == 1


def test_mail_parameters_are_kept_in_order(server, api):
    client = raw_session(server)
    send_mail(client, "bob@james.org", ["alice@james.org"], b"Subject: params\r\n\r\nhi\r\n",
              mail_params="SIZE=123 BODY=8BITMIME SMTPUTF8")
    [mail] = api.wait_for_mails(1)
    assert mail["mailParameters"] == [{"name": "SIZE", "value": "123"},
                                      {"name": "BODY", "value": "8BITMIME"},
                                      {"name": "SMTPUTF8", "value": ""}]
    assert mail["recipients"] == [{"address": "alice@james.org", "parameters": []}]


def test_the_null_sender_is_stored_as_angle_brackets(server, api):
    # JMAP VacationRelayIntegrationTest.
    client = raw_session(server)
    send_mail(client, "", ["ray@yopmail.com"], b"Subject: vacation\r\n\r\nAway\r\n")
    [mail] = api.wait_for_mails(1)
    assert mail["from"] == "<>"
    assert mail["recipients"] == [{"address": "ray@yopmail.com", "parameters": []}]


def test_a_recipient_refused_by_a_behavior_is_left_out_of_the_stored_mail(server, api):
    api.set_behaviors([behavior("RCPT TO", 550, "5.1.1 No such user", contains="touser1@other.com")])
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<from@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<touser1@other.com>") == (550, b"5.1.1 No such user")
    assert client.command(b"RCPT TO:<touser2@other.com>") == RCPT_OK
    assert client.command(b"DATA") == START_INPUT
    client.send(b"subject: test\r\n\r\npartial\r\n.\r\n")
    queue_id(client.reply1())
    [mail] = api.wait_for_mails(1)
    assert mail["from"] == "from@james.org"
    assert mail["recipients"] == [{"address": "touser2@other.com", "parameters": []}]
    assert "subject: test\r\n" in mail["message"]


def test_delete_mails_returns_what_it_removed_in_arrival_order(server, api):
    client = raw_session(server)
    for n in range(3):
        send_mail(client, f"sender{n}@james.org", ["alice@james.org"], f"Subject: order {n}\r\n\r\nx\r\n".encode())
    mails = api.wait_for_mails(3)
    assert api.count() == 3
    drained = api.drain()
    assert drained == mails
    assert [m["from"] for m in drained] == ["sender0@james.org", "sender1@james.org", "sender2@james.org"]
    assert api.mails() == []
    assert api.count() == 0
    assert api.drain() == []


def test_draining_while_mail_arrives_loses_and_duplicates_nothing(server, api):
    threads_count, per_thread = 4, 50
    errors: list[str] = []

    def sender(t: int) -> None:
        try:
            client = server.smtp(timeout=30)
            client.ehlo()
            for i in range(per_thread):
                assert client.mail("bob@james.org") == MAIL_OK
                assert client.rcpt("alice@james.org") == RCPT_OK
                code, text = client.data(f"Subject: drain-{t}-{i}\r\n\r\nbody {t} {i}\r\n".encode())
                assert code == 250, (code, text)
            client.quit()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(f"sender {t}: {error!r}")

    threads = [threading.Thread(target=sender, args=(t,), daemon=True) for t in range(threads_count)]
    for thread in threads:
        thread.start()
    drained: list[dict] = []
    while any(thread.is_alive() for thread in threads):
        drained += api.drain()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    total = threads_count * per_thread
    deadline = time.monotonic() + 5
    while len(drained) < total and time.monotonic() < deadline:
        drained += api.drain()
    drained += api.drain()
    subjects = collections.Counter()
    for mail in drained:
        match = re.search(r"Subject: (drain-\d+-\d+)\r\n", mail["message"])
        assert match, mail
        subjects[match.group(1)] += 1
    expected = {f"drain-{t}-{i}" for t in range(threads_count) for i in range(per_thread)}
    assert set(subjects) == expected, sorted(expected - set(subjects))[:10]
    assert [s for s, n in subjects.items() if n != 1] == []
    assert len(drained) == total
    assert api.count() == 0


@pytest.mark.parametrize("capture", [[], ["--capture", "off"]], ids=["default", "off"])
def test_without_capture_nothing_is_stored(sinkhole, capture):
    server = sinkhole("--mode", "accept", *capture)
    api = main_api(server)
    client = raw_session(server)
    send_mail(client, "bob@james.org", ["alice@james.org"], b"Subject: not kept\r\n\r\nx\r\n")
    assert client.command(b"QUIT")[0] == 221
    server.connection_log(client.client_port)
    assert api.mails() == []
    assert api.count() == 0
    assert api.drain() == []


def test_capture_max_messages_bounds_what_is_stored(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory", "--capture-max-messages", "2")
    api = main_api(server)
    client = raw_session(server)
    subjects = [f"bounded {n}" for n in range(3)]
    for subject in subjects[:2]:
        send_mail(client, "bob@james.org", ["alice@james.org"], f"Subject: {subject}\r\n\r\nx\r\n".encode())
    api.wait_for_mails(2)
    # What the third message is answered is sinkhole's business; only two are kept.
    assert client.command(b"MAIL FROM:<bob@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<alice@james.org>") == RCPT_OK
    assert client.command(b"DATA") == START_INPUT
    client.send(f"Subject: {subjects[2]}\r\n\r\nx\r\n.\r\n".encode())
    assert client.reply1()[0] == 250, "the newest is kept; the oldest makes room"
    assert client.command(b"QUIT")[0] == 221
    server.connection_log(client.client_port)
    assert api.count() == 2
    drained = api.drain()
    assert len(drained) == 2
    kept = [re.search(r"Subject: (bounded \d)", m["message"]).group(1) for m in drained]
    assert kept == subjects[1:], "the oldest is evicted first"
    client = raw_session(server)
    send_mail(client, "bob@james.org", ["alice@james.org"], b"Subject: room again\r\n\r\nx\r\n")
    [mail] = api.wait_for_mails(1)
    assert "Subject: room again\r\n" in mail["message"]


def test_an_unknown_capture_value_is_a_startup_error():
    result = run_sinkhole("--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--capture", "disk")
    assert result.returncode == 2, result
    assert_one_line_error(result, "disk")


# -- James's own recipes (spec §8, faults.md recipe 28) ----------------------------


def test_recipe_rcpt_421_once_then_the_retry_is_delivered(server, api):
    # remoteDeliveryShouldNotDuplicateContentWhenSendPartial, with sinkhole's closing 421.
    api.set_behaviors([behavior("RCPT TO", 421, "Service not available", contains="touser1@other.com", times=1)])
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<from@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<touser2@other.com>") == RCPT_OK
    assert client.command(b"RCPT TO:<touser1@other.com>") == (421, b"Service not available")
    assert client.at_eof(), "sinkhole's 421 closes the connection"
    server.connection_log(client.client_port)
    assert api.count() == 0, "the unfinished transaction stored nothing"
    assert api.behaviors() == []
    client = raw_session(server)
    send_mail(client, "from@james.org", ["touser1@other.com", "touser2@other.com"],
              b"subject: test\r\n\r\nretried\r\n")
    [mail] = api.wait_for_mails(1)
    assert mail["from"] == "from@james.org"
    assert [r["address"] for r in mail["recipients"]] == ["touser1@other.com", "touser2@other.com"]
    assert "subject: test" in mail["message"]


@pytest.mark.parametrize("command", ["MAIL FROM", "RCPT TO", "DATA"])
def test_recipe_421_twice_then_the_third_attempt_is_stored(server, api, command):
    # RemoteDeliveryErrorTest: 421 twice, James retries, one mail from@james.org -> touser@other.com.
    api.set_behaviors([behavior(command, 421, "4.3.0 Service not available", times=2)])
    for attempt in range(2):
        client = raw_session(server)
        if command == "MAIL FROM":
            assert client.command(b"MAIL FROM:<from@james.org>") == (421, b"4.3.0 Service not available")
        else:
            assert client.command(b"MAIL FROM:<from@james.org>") == MAIL_OK
            if command == "RCPT TO":
                assert client.command(b"RCPT TO:<touser@other.com>") == (421, b"4.3.0 Service not available")
            else:
                assert client.command(b"RCPT TO:<touser@other.com>") == RCPT_OK
                assert client.command(b"DATA") == START_INPUT
                client.send(b"subject: test\r\n\r\nattempt\r\n.\r\n")
                assert client.reply1() == (421, b"4.3.0 Service not available")
        assert client.at_eof(), attempt
    assert api.behaviors() == []
    assert api.count() == 0
    client = raw_session(server)
    send_mail(client, "from@james.org", ["touser@other.com"], b"subject: test\r\n\r\nthird time\r\n")
    [mail] = api.wait_for_mails(1)
    assert mail["from"] == "from@james.org"
    assert mail["recipients"] == [{"address": "touser@other.com", "parameters": []}]
    assert "subject: test" in mail["message"]


# -- the API token ------------------------------------------------------------------


def assert_unauthorized(response: requests.Response, json_body: bool = True) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    if json_body:
        body = response.json()
        assert body["field"] == "Authorization" and isinstance(body["error"], str) and body["error"], body


def test_with_a_token_every_route_but_health_and_metrics_needs_it(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory", "--james-listen", "127.0.0.1:0",
                      "--api-token", TOKEN)
    anonymous, wrong, right = main_api(server), main_api(server, "not-" + TOKEN), main_api(server, TOKEN)
    for path in ("/smtpBehaviors", "/smtpExtensions", "/smtpMails", "/smtpMailsCount", "/version"):
        assert_unauthorized(anonymous.get(path))
        assert_unauthorized(wrong.get(path))
        assert right.get(path).status_code == 200, path
    assert_unauthorized(anonymous.request("GET", "/version", headers={"Authorization": TOKEN}))
    assert_unauthorized(anonymous.put("/smtpBehaviors", json.dumps([GOOD])))
    assert_unauthorized(anonymous.delete("/smtpMails"))
    assert_unauthorized(anonymous.delete("/smtpBehaviors"))
    assert right.behaviors() == [], "the refused PUT changed nothing"
    right.set_behaviors([GOOD])
    assert_unauthorized(wrong.delete("/smtpBehaviors"))
    assert normalized(right.behaviors()) == normalized([GOOD])
    for path in ("/healthz", "/readyz", "/metrics"):
        assert anonymous.get(path).status_code == 200, path
    james = james_port(server)
    assert_unauthorized(Api(james).get("/smtpBehaviors"), json_body=False)
    assert_unauthorized(Api(james, "not-" + TOKEN).get("/version"), json_body=False)
    assert normalized(Api(james, TOKEN).behaviors()) == normalized([GOOD])
    server.stop()
    wait_stdout_closed(server)
    assert TOKEN not in server.stdout_text()
    assert not [line for line in server.stderr_lines if TOKEN in line]


@pytest.mark.parametrize("where", ["environment", "file"])
def test_the_token_from_the_environment_or_a_file(sinkhole, tmp_path, where):
    if where == "environment":
        server = sinkhole("--mode", "accept", env={"SINKHOLE_API_TOKEN": TOKEN})
    else:
        path = tmp_path / "token"
        path.write_text(TOKEN)
        server = sinkhole("--mode", "accept", "--api-token-file", str(path))
    assert_unauthorized(main_api(server).get("/smtpBehaviors"))
    assert main_api(server, TOKEN).behaviors() == []
    server.stop()
    wait_stdout_closed(server)
    assert TOKEN not in server.stdout_text()
    assert not [line for line in server.stderr_lines if TOKEN in line]


def test_api_read_open_lets_reads_through_without_the_token(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory", "--api-token", TOKEN, "--api-read-open")
    anonymous, right = main_api(server), main_api(server, TOKEN)
    assert anonymous.behaviors() == []
    assert anonymous.extensions() == []
    assert anonymous.mails() == []
    assert anonymous.count() == 0
    assert anonymous.get("/version").text == "0.4"
    assert_unauthorized(anonymous.put("/smtpBehaviors", json.dumps([GOOD])))
    assert_unauthorized(anonymous.put("/smtpExtensions", '["DSN"]'))
    assert_unauthorized(anonymous.delete("/smtpMails"))
    assert_unauthorized(anonymous.delete("/smtpExtensions"))
    right.set_behaviors([GOOD])
    assert normalized(anonymous.behaviors()) == normalized([GOOD])


def test_a_non_loopback_api_without_a_token_is_refused_at_start():
    result = run_sinkhole("--listen", "127.0.0.1:0", "--http-listen", "0.0.0.0:0", timeout=15)
    assert result.returncode == 2, result
    assert_one_line_error(result, "--api-token")


@pytest.mark.parametrize("extra", [["--api-insecure"], ["--api-token", TOKEN]], ids=["insecure", "token"])
def test_a_non_loopback_api_starts_with_a_token_or_api_insecure(sinkhole, extra):
    server = sinkhole("--mode", "accept", "--http-listen", "0.0.0.0:0", *extra)
    line = server.wait_for_log(lambda e: e.get("event") == "http_listening")
    assert line["address"] == f"0.0.0.0:{server.http_port}"
    token = TOKEN if "--api-token" in extra else None
    assert main_api(server, token).get("/version").text == "0.4"
    if token:
        assert_unauthorized(main_api(server).get("/version"))


def test_a_message_over_the_capture_budget_gets_452_and_is_not_kept(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory", "--capture-max-bytes", "4K")
    api = main_api(server)
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<bob@james.org>") == MAIL_OK
    assert client.command(b"RCPT TO:<alice@james.org>") == RCPT_OK
    assert client.command(b"DATA") == START_INPUT
    client.send(b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n.\r\n")
    assert client.reply1() == (452, b"4.3.1 Insufficient system storage")
    server.wait_for_log(lambda e: e.get("event") == "limit_exceeded" and e.get("limit") == "capture_max_bytes")
    # The session goes on, and a message that fits is kept.
    send_mail(client, "bob@james.org", ["alice@james.org"], b"Subject: small\r\n\r\nx\r\n")
    [mail] = api.wait_for_mails(1)
    assert "Subject: small\r\n" in mail["message"]
    assert api.count() == 1


def test_parameters_of_advertised_extensions_are_taken_and_stored_as_james_relay_tests_check(sinkhole):
    # DSNRelayTest, SmtpMtPriorityRelayTest, SmtpRequireTlsRelayTest: the extension is
    # advertised through /smtpExtensions, and the stored envelope carries the parameters.
    # sinkhole offers DSN itself; --no-dsn gives James's EHLO, which offers it only through /smtpExtensions.
    server = sinkhole("--mode", "accept", "--capture", "memory", "--no-dsn")
    api = main_api(server)
    client = raw_session(server)
    # Not advertised: refused, as RFC 5321 says.
    assert client.command(b"MAIL FROM:<bob@james.org> RET=HDRS") == (555, b"5.5.4 Unsupported parameter RET")
    client.command(b"QUIT")
    api.set_extensions(["dsn", "MT-PRIORITY", "REQUIRETLS"])
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<bob@james.org> RET=HDRS ENVID=gabouzomeuh MT-PRIORITY=3 REQUIRETLS") == MAIL_OK
    assert client.command(b"RCPT TO:<alice@james.org> NOTIFY=FAILURE,DELAY ORCPT=rfc822;alice@james.org") == RCPT_OK
    assert client.command(b"RCPT TO:<jack@james.org>") == RCPT_OK
    # DSN's RCPT parameters do not belong on MAIL, nor MAIL's on RCPT.
    assert client.command(b"RCPT TO:<kim@james.org> RET=FULL") == (555, b"5.5.4 Unsupported parameter RET")
    assert client.command(b"DATA") == START_INPUT
    client.send(b"Subject: dsn\r\n\r\nx\r\n.\r\n")
    assert client.reply1()[0] == 250
    [mail] = api.wait_for_mails(1)
    assert mail["mailParameters"] == [
        {"name": "RET", "value": "HDRS"}, {"name": "ENVID", "value": "gabouzomeuh"},
        {"name": "MT-PRIORITY", "value": "3"}, {"name": "REQUIRETLS", "value": ""},
    ]
    assert mail["recipients"] == [
        {"address": "alice@james.org", "parameters": [
            {"name": "NOTIFY", "value": "FAILURE,DELAY"}, {"name": "ORCPT", "value": "rfc822;alice@james.org"}]},
        {"address": "jack@james.org", "parameters": []},
    ]


def test_capture_is_counted_on_metrics(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory", "--capture-max-messages", "1")
    client = raw_session(server)
    for n in range(3):
        send_mail(client, "bob@james.org", ["alice@james.org"], f"Subject: m{n}\r\n\r\nx\r\n".encode())
    metrics = server.metrics()
    assert metrics["sinkhole_captured_messages"] == 1
    assert metrics["sinkhole_capture_evictions_total"] == 2
    assert metrics["sinkhole_captured_bytes"] > 0


def test_waiting_for_mail_answers_when_it_arrives_or_408_at_the_timeout(sinkhole):
    import threading
    server = sinkhole("--mode", "accept", "--capture", "memory")
    base = f"http://127.0.0.1:{server.http_port}/api/v1/messages/wait"
    started = time.monotonic()
    response = requests.get(base, params={"count": 1, "timeout": "300ms"}, timeout=10)
    assert response.status_code == 408 and response.json()["field"] == "count", response.text
    assert 0.25 <= time.monotonic() - started < 5
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(
        requests.get(base, params={"count": 2, "timeout": "20s"}, timeout=30)))
    waiter.start()
    client = raw_session(server)
    send_mail(client, "bob@james.org", ["alice@james.org"], b"Subject: one\r\n\r\nx\r\n")
    send_mail(client, "bob@james.org", ["alice@james.org"], b"Subject: two\r\n\r\nx\r\n")
    waiter.join(timeout=25)
    assert not waiter.is_alive(), "the wait did not end when the second message arrived"
    [response] = answers
    assert response.status_code == 200, response.text
    assert [m["Subject"] for m in response.json()["messages"]] == ["two", "one"]
    bad = requests.get(base, params={"count": "many"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["field"] == "count"


def test_sigterm_with_both_http_listeners_is_a_clean_exit(sinkhole):
    # Shut down one after the other, the second listener could finish while the
    # first was being stopped, and sinkhole exited 1 ("finished unexpectedly").
    for _ in range(5):
        server = sinkhole("--mode", "accept", "--james-listen", "127.0.0.1:0")
        james_port(server)
        server.terminate()
        assert server.wait(timeout=15) == 0, server.stderr_lines[-5:]
        assert not server.logs(lambda e: e.get("event") == "service_failed")
