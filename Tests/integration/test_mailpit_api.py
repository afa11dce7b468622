"""Mailpit REST API compatibility over HTTP (mailpit-compat.md §1, §4, §5):
/api/v1/messages, /api/v1/message/{ID} (+ /headers, /raw), /api/v1/search,
/api/v1/info, /api/v1/chaos and /livez on the operations listener, over mail
captured with --capture memory, checked with `requests` and with a Mailpit
client nobody here wrote (PyPI `mailpit-api-client`, `mailpit.client.api`).

Where sinkhole differs from Mailpit on purpose, the tests assert sinkhole's
side: chaos is always enabled, a not-found is a JSON error naming the field,
empty address lists are always `[]`, never null.

No test sleeps to wait: the mailbox is polled with a deadline (mail is stored
just after its 250), connection ends are read off the socket.
"""

from __future__ import annotations

import base64
import datetime
import email.policy
import re
import time
from email.message import EmailMessage

import pytest
import requests

from conftest import queue_id, raw_session

TIMEOUT = 10.0
MAIL_OK = (250, b"2.1.0 OK")
RCPT_OK = (250, b"2.1.5 OK")
NEED_MAIL = (503, b"5.5.1 Need MAIL command")
TOKEN = "tok-7c1e9a3f5b2d4c6e8f0a"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

LIST_KEYS = {"total", "unread", "count", "messages_count", "messages_unread", "start", "tags", "messages"}
SUMMARY_KEYS = {"ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo", "Subject", "Created",
                "Username", "Tags", "Size", "Attachments", "Snippet"}
MESSAGE_KEYS = {"ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo", "ReturnPath", "Subject",
                "ListUnsubscribe", "Date", "Tags", "Username", "Text", "HTML", "Size", "Inline", "Attachments"}
ATTACHMENT_KEYS = {"PartID", "FileName", "ContentType", "ContentID", "Size"}
RUNTIME_KEYS = {"Uptime", "Memory", "MessagesDeleted", "SMTPAccepted", "SMTPAcceptedSize", "SMTPRejected",
                "SMTPIgnored"}
DEFAULT_CHAOS = {"Sender": {"ErrorCode": 451, "Probability": 0},
                 "Recipient": {"ErrorCode": 451, "Probability": 0},
                 "Authentication": {"ErrorCode": 535, "Probability": 0}}
NO_ADDRESS = {"Name": "", "Address": ""}


def addr(address: str, name: str = "") -> dict:
    return {"Name": name, "Address": address}


# -- the messages ---------------------------------------------------------------
# Raw sources as smtplib sends them (bytes are sent as given, CRLF already,
# only dot-stuffed on the wire); what sinkhole stores is exactly these bytes.

PLAIN_ENVELOPE = ("bounces@example.com",
                  ["bob@example.org", "carol@example.org", "dave@example.net", "secret@example.com"])
PLAIN = (b'From: "Alice Example" <alice@example.com>\r\n'
         b"To: Bob Builder <bob@example.org>, carol@example.org\r\n"
         b'Cc: "Dave, Jr." <dave@example.net>\r\n'
         b"Reply-To: Replies <replies@example.com>\r\n"
         b"Subject: Quarterly report\r\n"
         b"Date: Mon, 02 Jun 2025 10:00:00 +0200\r\n"
         b"Message-ID: <plain-1@example.com>\r\n"
         b"\r\n"
         b"Hello  Alice,\r\n"
         b"\r\n"
         b"This is   the\tbudget line.\r\n"
         b".leading dot line\r\n")
PLAIN_TEXT = "Hello  Alice,\r\n\r\nThis is   the\tbudget line.\r\n.leading dot line\r\n"
PLAIN_SNIPPET = "Hello Alice, This is the budget line. .leading dot line"

UTF8_SUBJECT = "Grüße aus Köln ✓"
ALT_HTML = "<html><body><p>Caf\u00e9 <b>menu</b></p></body></html>"
ALT_ENVELOPE = ("news@example.com", ["erin@example.com"])
ALT = (b"From: news@example.com\r\n"
       b"To: Erin <erin@example.com>\r\n"
       b"Subject: =?UTF-8?B?" + base64.b64encode(UTF8_SUBJECT.encode()) + b"?=\r\n"
       b"MIME-Version: 1.0\r\n"
       b'Content-Type: multipart/alternative; boundary="alt-b"\r\n'
       b"\r\n"
       b"--alt-b\r\n"
       b'Content-Type: text/plain; charset="utf-8"\r\n'
       b"Content-Transfer-Encoding: quoted-printable\r\n"
       b"\r\n"
       b"Caf=C3=A9 menu: soup=3Dgood\r\n"
       b"a soft=\r\n"
       b" break\r\n"
       b"\r\n"
       b"--alt-b\r\n"
       b'Content-Type: text/html; charset="utf-8"\r\n'
       b"Content-Transfer-Encoding: base64\r\n"
       b"\r\n"
       + base64.encodebytes(ALT_HTML.encode()).replace(b"\n", b"\r\n") +
       b"--alt-b--\r\n")
ALT_TEXT = "Café menu: soup=good\r\na soft break\r\n"

PDF = bytes(range(256)) * 4  # 1024 bytes, every byte value: only base64 carries it
MIXED_ENVELOPE = ("frank@example.com", ["grace@example.com"])


def mixed_message() -> bytes:
    message = EmailMessage()
    message["From"] = "Frank <frank@example.com>"
    message["To"] = "grace@example.com"
    message["Subject"] = "Invoice attached"
    message["Date"] = "Tue, 03 Jun 2025 08:30:00 +0000"
    message.set_content("Please find the invoice attached.\n")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    return message.as_bytes(policy=email.policy.SMTP)


MIXED = mixed_message()
assert b"Content-Transfer-Encoding: base64" in MIXED

PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)
RELATED_ENVELOPE = ("frank@example.com", ["grace@example.com"])
RELATED = (b"From: frank@example.com\r\n"
           b"To: grace@example.com\r\n"
           b"Subject: Logo inline\r\n"
           b"MIME-Version: 1.0\r\n"
           b'Content-Type: multipart/related; boundary="rel-b"\r\n'
           b"\r\n"
           b"--rel-b\r\n"
           b'Content-Type: text/html; charset="utf-8"\r\n'
           b"\r\n"
           b'<p><img src="cid:logo@example.com"></p>\r\n'
           b"--rel-b\r\n"
           b"Content-Type: image/png\r\n"
           b"Content-Transfer-Encoding: base64\r\n"
           b"Content-ID: <logo@example.com>\r\n"
           b'Content-Disposition: inline; filename="logo.png"\r\n'
           b"\r\n"
           + base64.encodebytes(PNG).replace(b"\n", b"\r\n") +
           b"--rel-b--\r\n")

BARE = b"Subject: bare\r\n\r\nno address headers at all\r\n"

WEEKLY = (b"From: alice@example.com\r\n"
          b"To: grace@example.com\r\n"
          b"Subject: Weekly report draft\r\n"
          b"\r\n"
          b"nothing here\r\n")


# -- helpers ------------------------------------------------------------------


class Api:
    """The Mailpit routes of one server's operations listener."""

    def __init__(self, server, token: str | None = None):
        self.base = f"http://127.0.0.1:{server.http_port}"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, path: str, **kw) -> requests.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return requests.request(method, self.base + path, headers=headers, timeout=TIMEOUT, **kw)

    def get_json(self, path: str, params: dict | None = None):
        response = self.request("GET", path, params=params)
        assert response.status_code == 200, (path, params, response.status_code, response.text)
        assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
        return response.json()

    def messages(self, **params) -> dict:
        return self.get_json("/api/v1/messages", params)

    def search(self, query: str, **params) -> dict:
        return self.get_json("/api/v1/search", {"query": query, **params})

    def message(self, message_id: str) -> dict:
        return self.get_json(f"/api/v1/message/{message_id}")

    def summary(self, message_id: str) -> dict:
        """A message's summary as listed (without reading it)."""
        found = [m for m in self.messages(limit=0)["messages"] if m["ID"] == message_id]
        assert len(found) == 1, f"{message_id} listed {len(found)} times"
        return found[0]

    def assert_ok(self, response: requests.Response) -> None:
        assert (response.status_code, response.text) == (200, "ok"), (response.status_code, response.text)
        assert response.headers.get("Content-Type", "").startswith("text/plain"), response.headers

    def delete(self, ids: list[str]) -> None:
        self.assert_ok(self.request("DELETE", "/api/v1/messages", json={"IDs": ids}))

    def set_read(self, read: bool, ids: list[str] | None = None) -> None:
        body = {"Read": read} if ids is None else {"Read": read, "IDs": ids}
        self.assert_ok(self.request("PUT", "/api/v1/messages", json=body))

    def chaos(self) -> dict:
        return self.get_json("/api/v1/chaos")

    def set_chaos(self, body) -> dict:
        response = self.request("PUT", "/api/v1/chaos", json=body)
        assert response.status_code == 200, (body, response.status_code, response.text)
        assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
        return response.json()

    def wait_for_total(self, count: int, timeout: float = 5.0) -> dict:
        """The list once it holds `count` messages (mail is stored just after its 250)."""
        deadline = time.monotonic() + timeout
        while True:
            listed = self.messages(limit=0)
            if listed["total"] >= count or time.monotonic() > deadline:
                assert listed["total"] == count, f"wanted {count} stored messages, have {listed['total']}: {listed}"
                return listed
            time.sleep(0.02)


def send(server, raw: bytes, sender: str, recipients: list[str]) -> str:
    """One transaction over smtplib; returns the queue id from the 250 after DATA."""
    client = server.smtp()
    client.ehlo()
    assert client.mail(sender) == MAIL_OK
    for recipient in recipients:
        assert client.rcpt(recipient) == RCPT_OK, recipient
    message_id = queue_id(client.data(raw))
    client.quit()
    return message_id


def send_stored(server, api: Api, raw: bytes, sender: str = "sender@example.com",
                recipients: list[str] | None = None) -> str:
    """Sends and waits until the message is in the mailbox; returns its ID."""
    before = api.messages(limit=0)["total"]
    message_id = send(server, raw, sender, recipients or ["rcpt@example.com"])
    api.wait_for_total(before + 1)
    return message_id


def rfc3339(value: str) -> datetime.datetime:
    assert isinstance(value, str) and RFC3339.match(value), f"not RFC 3339 with an offset: {value!r}"
    return datetime.datetime.fromisoformat(value)


def collapsed(text: str) -> str:
    return " ".join(text.split())


def subjects(listed: dict) -> list[str]:
    return [m["Subject"] for m in listed["messages"]]


def assert_json_error(response: requests.Response, status: int, field: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert body.get("field") == field and isinstance(body.get("error"), str) and body["error"], body
    return body


@pytest.fixture
def server(sinkhole):
    return sinkhole("--mode", "accept", "--capture", "memory")


@pytest.fixture
def api(server) -> Api:
    return Api(server)


@pytest.fixture
def search_box(server, api) -> dict[str, str]:
    """Four messages, oldest first: Quarterly report, the UTF-8 one, Invoice attached, Weekly report draft."""
    return {
        "plain": send_stored(server, api, PLAIN, *PLAIN_ENVELOPE),
        "alt": send_stored(server, api, ALT, *ALT_ENVELOPE),
        "mixed": send_stored(server, api, MIXED, *MIXED_ENVELOPE),
        "weekly": send_stored(server, api, WEEKLY, "alice@example.com", ["grace@example.com"]),
    }


# -- the list ---------------------------------------------------------------------


def test_a_fresh_server_lists_nothing(api):
    listed = api.messages()
    assert listed == {"total": 0, "unread": 0, "count": 0, "messages_count": 0, "messages_unread": 0,
                      "start": 0, "tags": [], "messages": []}


def test_the_summary_of_a_plain_message(server, api):
    before = datetime.datetime.now(datetime.timezone.utc)
    message_id = send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    after = datetime.datetime.now(datetime.timezone.utc)
    listed = api.messages()
    assert set(listed) == LIST_KEYS, listed
    assert (listed["total"], listed["unread"], listed["count"], listed["messages_count"],
            listed["messages_unread"], listed["start"], listed["tags"]) == (1, 1, 1, 1, 1, 0, [])
    [summary] = listed["messages"]
    assert set(summary) == SUMMARY_KEYS, summary
    created = rfc3339(summary.pop("Created"))
    # One second of slack either side for a clock with whole-second resolution.
    assert before - datetime.timedelta(seconds=1) <= created <= after + datetime.timedelta(seconds=1), created
    assert summary == {
        "ID": message_id,
        "MessageID": "plain-1@example.com",
        "Read": False,
        "From": addr("alice@example.com", "Alice Example"),
        "To": [addr("bob@example.org", "Bob Builder"), addr("carol@example.org")],
        "Cc": [addr("dave@example.net", "Dave, Jr.")],
        # Envelope recipients in neither To nor Cc.
        "Bcc": [addr("secret@example.com")],
        "ReplyTo": [addr("replies@example.com", "Replies")],
        "Subject": "Quarterly report",
        "Username": "",
        "Tags": [],
        "Size": len(PLAIN),
        "Attachments": 0,
        "Snippet": PLAIN_SNIPPET,
    }


def test_a_message_without_address_headers_has_empty_values_not_nulls(server, api):
    message_id = send_stored(server, api, BARE, "", ["only@example.com", "other@example.com"])
    summary = api.summary(message_id)
    assert summary["From"] == NO_ADDRESS
    assert (summary["To"], summary["Cc"], summary["ReplyTo"]) == ([], [], [])
    assert summary["Bcc"] == [addr("only@example.com"), addr("other@example.com")]
    assert (summary["MessageID"], summary["Subject"], summary["Snippet"]) == ("", "bare", "no address headers at all")
    message = api.message(message_id)
    assert message["From"] == NO_ADDRESS
    assert (message["To"], message["Cc"], message["ReplyTo"], message["MessageID"]) == ([], [], [], "")
    assert message["Bcc"] == [addr("only@example.com"), addr("other@example.com")]
    assert message["ReturnPath"] == ""  # the null sender, MAIL FROM:<>
    # No Date header: the receive time.
    assert rfc3339(message["Date"]) == rfc3339(summary["Created"]), (message["Date"], summary["Created"])


def test_an_encoded_word_subject_is_decoded(server, api):
    message_id = send_stored(server, api, ALT, *ALT_ENVELOPE)
    summary = api.summary(message_id)
    assert summary["Subject"] == UTF8_SUBJECT
    assert summary["From"] == addr("news@example.com")
    assert summary["To"] == [addr("erin@example.com", "Erin")]
    assert (summary["Cc"], summary["Bcc"], summary["ReplyTo"], summary["MessageID"]) == ([], [], [], "")
    assert summary["Snippet"] == collapsed(ALT_TEXT)
    assert api.message(message_id)["Subject"] == UTF8_SUBJECT


def test_a_long_body_gives_a_snippet_of_at_most_250_characters(server, api):
    words = [f"word{n:02}" for n in range(60)]  # 60 * 7 characters, 59 spaces: 479 in all
    body = "\r\n".join(" ".join(words[i:i + 6]) for i in range(0, 60, 6))
    snippet = api.summary(send_stored(server, api, f"Subject: long\r\n\r\n{body}\r\n".encode()))["Snippet"]
    text = collapsed(body)
    assert len(snippet) <= 250 and text.startswith(snippet), snippet
    assert len(snippet) >= 250 - len("word00 "), f"{len(snippet)} characters: {snippet!r}"


def test_the_list_is_newest_first_and_pages_with_start_and_limit(server, api):
    ids = [send_stored(server, api, f"Subject: number {n}\r\n\r\nbody {n}\r\n".encode()) for n in range(3)]
    newest_first = ids[::-1]
    listed = api.messages()
    assert [m["ID"] for m in listed["messages"]] == newest_first
    assert subjects(listed) == ["number 2", "number 1", "number 0"]
    page = api.messages(start=1, limit=1)
    assert [m["ID"] for m in page["messages"]] == [ids[1]]
    assert (page["total"], page["unread"], page["count"], page["messages_count"], page["start"]) == (3, 3, 1, 3, 1)
    page = api.messages(start=2, limit=5)
    assert ([m["ID"] for m in page["messages"]], page["count"], page["start"]) == ([ids[0]], 1, 2)
    page = api.messages(start=3)
    assert (page["messages"], page["count"], page["total"], page["start"]) == ([], 0, 3, 3)


def test_limit_defaults_to_50_and_0_means_no_limit(server, api):
    client = server.smtp()
    client.ehlo()
    for n in range(51):
        client.sendmail("bulk@example.com", ["rcpt@example.com"], f"Subject: bulk {n}\r\n\r\n{n}\r\n".encode())
    client.quit()
    everything = api.wait_for_total(51)
    assert (everything["count"], len(everything["messages"]), everything["messages_count"]) == (51, 51, 51)
    assert subjects(everything) == [f"bulk {n}" for n in range(50, -1, -1)]
    default = api.messages()
    assert (default["total"], default["count"], len(default["messages"]), default["messages_count"]) == (51, 50, 50, 51)
    assert subjects(default) == [f"bulk {n}" for n in range(50, 0, -1)]


# -- one message ------------------------------------------------------------------


def test_the_full_plain_message(server, api):
    message_id = send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    created = api.summary(message_id)["Created"]
    message = api.message(message_id)
    # Mailpit's keys, and sinkhole's own "SMTP" (the envelope and the transaction; clients ignore it).
    assert set(message) == MESSAGE_KEYS | {"SMTP"}, message
    assert message.pop("SMTP")["MailFrom"] == PLAIN_ENVELOPE[0]
    assert rfc3339(message.pop("Date")) == datetime.datetime(2025, 6, 2, 8, 0, tzinfo=datetime.timezone.utc)
    assert isinstance(message.pop("Read"), bool)
    assert message == {
        "ID": message_id,
        "MessageID": "plain-1@example.com",
        "From": addr("alice@example.com", "Alice Example"),
        "To": [addr("bob@example.org", "Bob Builder"), addr("carol@example.org")],
        "Cc": [addr("dave@example.net", "Dave, Jr.")],
        "Bcc": [addr("secret@example.com")],
        "ReplyTo": [addr("replies@example.com", "Replies")],
        "ReturnPath": "bounces@example.com",
        "Subject": "Quarterly report",
        "ListUnsubscribe": {"Header": "", "Links": [], "Errors": "", "HeaderPost": ""},
        "Tags": [],
        "Username": "",
        "Text": PLAIN_TEXT,
        "HTML": "",
        "Size": len(PLAIN),
        "Inline": [],
        "Attachments": [],
    }
    assert api.summary(message_id)["Created"] == created


def test_alternative_parts_give_decoded_text_and_html(server, api):
    message_id = send_stored(server, api, ALT, *ALT_ENVELOPE)
    message = api.message(message_id)
    assert message["Text"] == ALT_TEXT
    assert message["HTML"] == ALT_HTML
    assert (message["Attachments"], message["Inline"]) == ([], [])
    assert message["ReturnPath"] == "news@example.com"
    assert message["Size"] == len(ALT)


def test_a_base64_attachment_is_listed_and_counted(server, api):
    message_id = send_stored(server, api, MIXED, *MIXED_ENVELOPE)
    summary = api.summary(message_id)
    assert (summary["Attachments"], summary["Size"]) == (1, len(MIXED))
    assert summary["Snippet"] == "Please find the invoice attached."
    message = api.message(message_id)
    assert (message["HTML"], message["Inline"]) == ("", [])
    assert rfc3339(message["Date"]) == datetime.datetime(2025, 6, 3, 8, 30, tzinfo=datetime.timezone.utc)
    [attachment] = message["Attachments"]
    assert set(attachment) >= ATTACHMENT_KEYS, attachment
    # PartID's numbering is Mailpit's (enmime's) own; the interface only names the key.
    assert isinstance(attachment["PartID"], str) and attachment["PartID"], attachment
    assert {k: attachment[k] for k in ATTACHMENT_KEYS - {"PartID"}} == {
        "FileName": "invoice.pdf", "ContentType": "application/pdf", "ContentID": "", "Size": len(PDF)}
    assert message["Text"] == "Please find the invoice attached.\r\n"


def test_an_inline_image_with_a_content_id_is_inline_not_an_attachment(server, api):
    message_id = send_stored(server, api, RELATED, *RELATED_ENVELOPE)
    assert api.summary(message_id)["Attachments"] == 0
    message = api.message(message_id)
    assert message["HTML"] == '<p><img src="cid:logo@example.com"></p>'
    assert message["Attachments"] == []
    [inline] = message["Inline"]
    assert set(inline) >= ATTACHMENT_KEYS, inline
    assert isinstance(inline["PartID"], str) and inline["PartID"], inline
    # Disposition inline with a Content-ID: Inline even with a filename (as in Mailpit, where
    # the Content-ID loses its angle brackets).
    assert {k: inline[k] for k in ATTACHMENT_KEYS - {"PartID"}} == {
        "FileName": "logo.png", "ContentType": "image/png", "ContentID": "logo@example.com", "Size": len(PNG)}


def test_list_unsubscribe_is_reported_as_mailpit_does(server, api):
    header = "<mailto:unsub@example.com?subject=stop>, <https://example.com/unsub?u=1>"
    raw = (f"From: list@example.com\r\nTo: member@example.com\r\nSubject: news\r\n"
           f"List-Unsubscribe: {header}\r\n"
           f"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nnews\r\n").encode()
    message = api.message(send_stored(server, api, raw))
    assert message["ListUnsubscribe"] == {
        "Header": header,
        "Links": ["mailto:unsub@example.com?subject=stop", "https://example.com/unsub?u=1"],
        "Errors": "",
        "HeaderPost": "List-Unsubscribe=One-Click",
    }


def test_fetching_a_message_marks_it_read_and_headers_or_raw_do_not(server, api):
    first = send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    second = send_stored(server, api, WEEKLY)
    assert api.get_json(f"/api/v1/message/{first}/headers")
    assert api.request("GET", f"/api/v1/message/{first}/raw").status_code == 200
    listed = api.messages()
    assert [(m["ID"], m["Read"]) for m in listed["messages"]] == [(second, False), (first, False)]
    api.message(first)
    listed = api.messages()
    assert [(m["ID"], m["Read"]) for m in listed["messages"]] == [(second, False), (first, True)]
    assert (listed["total"], listed["unread"], listed["messages_unread"]) == (2, 1, 1)
    assert api.message(first)["Read"] is True


def test_latest_is_the_newest_message(server, api):
    send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    newest = send_stored(server, api, WEEKLY)
    latest = api.message("latest")
    assert (latest["ID"], latest["Subject"]) == (newest, "Weekly report draft")


def test_an_unknown_id_is_a_404_json_error_naming_the_id(server, api):
    send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    for path in ("/api/v1/message/0123456789ABCDEF0", "/api/v1/message/no-such-id"):
        assert_json_error(api.request("GET", path), 404, "ID")
    for path in ("/api/v1/message/0123456789ABCDEF0/headers", "/api/v1/message/0123456789ABCDEF0/raw"):
        assert api.request("GET", path).status_code == 404, path


def test_headers_are_unfolded_and_repeated_headers_kept(server, api):
    raw = (b"From: alice@example.com\r\n"
           b"To: bob@example.org\r\n"
           b"Subject: headers\r\n"
           b"X-Folded: first part\r\n second part\r\n third part\r\n"
           b"X-Multi: one\r\n"
           b"X-Multi: two\r\n"
           b"\r\n"
           b"body\r\n")
    headers = api.get_json(f"/api/v1/message/{send_stored(server, api, raw)}/headers")
    assert headers == {
        "From": ["alice@example.com"],
        "To": ["bob@example.org"],
        "Subject": ["headers"],
        "X-Folded": ["first part second part third part"],
        "X-Multi": ["one", "two"],
    }


def test_raw_is_the_message_exactly_as_received(server, api):
    message_id = send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    response = api.request("GET", f"/api/v1/message/{message_id}/raw")
    assert response.status_code == 200
    assert response.headers.get("Content-Type", "").startswith("text/plain"), response.headers
    # smtplib sent "..leading dot line": stored dot-unstuffed, CRLF kept, no header added.
    assert response.content == PLAIN
    assert api.summary(message_id)["Size"] == len(response.content)
    mixed = send_stored(server, api, MIXED, *MIXED_ENVELOPE)
    assert api.request("GET", f"/api/v1/message/{mixed}/raw").content == MIXED


# -- delete and read status ------------------------------------------------------------


def test_delete_by_ids_removes_only_those(server, api):
    ids = [send_stored(server, api, f"Subject: d{n}\r\n\r\nx\r\n".encode()) for n in range(3)]
    api.delete([ids[0], ids[2]])
    listed = api.messages()
    assert ([m["ID"] for m in listed["messages"]], listed["total"], listed["unread"]) == ([ids[1]], 1, 1)
    assert_json_error(api.request("GET", f"/api/v1/message/{ids[0]}"), 404, "ID")
    api.delete([ids[0]])  # already gone: still ok, nothing else goes
    assert api.messages()["total"] == 1


DELETE_ALL_BODIES = {
    "no body": None,
    "empty body": b"",
    "not json": b"not json",
    "no IDs": b"{}",
    "empty IDs": b'{"IDs": []}',
}


@pytest.mark.parametrize("body", DELETE_ALL_BODIES.values(), ids=DELETE_ALL_BODIES.keys())
def test_delete_without_ids_removes_everything_as_mailpit_does(server, api, body):
    for n in range(3):
        send_stored(server, api, f"Subject: d{n}\r\n\r\nx\r\n".encode())
    api.assert_ok(api.request("DELETE", "/api/v1/messages", data=body))
    assert api.messages() == {"total": 0, "unread": 0, "count": 0, "messages_count": 0, "messages_unread": 0,
                              "start": 0, "tags": [], "messages": []}


def test_put_sets_the_read_status_of_some_or_all(server, api):
    ids = [send_stored(server, api, f"Subject: r{n}\r\n\r\nx\r\n".encode()) for n in range(3)]

    def read_flags() -> list[bool]:
        listed = api.messages()
        assert listed["unread"] == listed["messages_unread"] == [m["Read"] for m in listed["messages"]].count(False)
        return [m["Read"] for m in reversed(listed["messages"])]  # oldest first, like ids

    api.set_read(True, [ids[1]])
    assert read_flags() == [False, True, False]
    api.set_read(True)
    assert read_flags() == [True, True, True]
    api.set_read(False, [ids[0], ids[2]])
    assert read_flags() == [False, True, False]
    api.set_read(False)
    assert read_flags() == [False, False, False]


# -- search ----------------------------------------------------------------------------

SEARCHES = {
    "to:grace@example.com": ["Weekly report draft", "Invoice attached"],
    "to:GRACE": ["Weekly report draft", "Invoice attached"],
    "from:alice": ["Weekly report draft", "Quarterly report"],
    "from:frank@example.com": ["Invoice attached"],
    "subject:report": ["Weekly report draft", "Quarterly report"],
    'subject:"weekly report"': ["Weekly report draft"],
    'subject:"report weekly"': [],
    "from:alice subject:quarterly": ["Quarterly report"],
    "from:frank subject:quarterly": [],
    "budget": ["Quarterly report"],  # the text body
    "example.net": ["Quarterly report"],  # an address (Cc)
    "INVOICE": ["Invoice attached"],
    "köln": [UTF8_SUBJECT],  # the decoded subject
    "nowhere-to-be-found": [],
}


@pytest.mark.parametrize("query", SEARCHES.keys())
def test_search_terms(api, search_box, query):
    found = api.search(query)
    assert set(found) == LIST_KEYS, found
    assert subjects(found) == SEARCHES[query], query
    expected = len(SEARCHES[query])
    assert (found["total"], found["unread"], found["count"], found["messages_count"], found["messages_unread"],
            found["start"], found["tags"]) == (4, 4, expected, expected, expected, 0, [])


def test_search_by_read_status_and_with_paging(api, search_box):
    api.message(search_box["plain"])
    assert subjects(api.search("is:read")) == ["Quarterly report"]
    assert subjects(api.search("is:unread")) == ["Weekly report draft", "Invoice attached", UTF8_SUBJECT]
    assert subjects(api.search("is:unread from:alice")) == ["Weekly report draft"]
    found = api.search("report")
    assert (subjects(found), found["messages_count"], found["messages_unread"], found["unread"]) == (
        ["Weekly report draft", "Quarterly report"], 2, 1, 3)
    page = api.search("report", start=1, limit=1)
    assert (subjects(page), page["count"], page["messages_count"], page["start"], page["total"]) == (
        ["Quarterly report"], 1, 2, 1, 4)


def test_a_plus_in_the_query_string_is_a_space(api, search_box):
    # requests, httpx, urllib.parse.urlencode and HTML forms all send a space as "+";
    # Mailpit (Go's url.ParseQuery) reads it back as a space, as it does %20.
    for encoded in ("from:alice%20subject:quarterly", "from:alice+subject:quarterly",
                    "subject:%22weekly%20report%22", "subject:%22weekly+report%22"):
        response = api.request("GET", "/api/v1/search?query=" + encoded)
        assert response.status_code == 200, (encoded, response.status_code, response.text)
        assert len(subjects(response.json())) == 1, (encoded, subjects(response.json()))


def test_search_without_a_query_is_a_400_naming_the_query(api):
    assert_json_error(api.request("GET", "/api/v1/search"), 400, "query")


def test_delete_search_removes_only_the_matches(api, search_box):
    api.assert_ok(api.request("DELETE", "/api/v1/search", params={"query": "subject:report"}))
    listed = api.messages()
    assert subjects(listed) == ["Invoice attached", UTF8_SUBJECT]
    assert (listed["total"], listed["unread"]) == (2, 2)
    assert api.search("subject:report")["messages"] == []


# -- info and livez ---------------------------------------------------------------------


def test_info_counts_messages_and_smtp_traffic(server, api):
    first = send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    send_stored(server, api, MIXED, *MIXED_ENVELOPE)
    api.delete([first])
    send_stored(server, api, WEEKLY)
    info = api.get_json("/api/v1/info")
    assert isinstance(info["Version"], str) and info["Version"], info
    assert (info["Messages"], info["Unread"], info["Tags"]) == (2, 2, {}), info
    stats = info["RuntimeStats"]
    assert set(stats) >= RUNTIME_KEYS, stats
    assert isinstance(stats["Uptime"], int) and stats["Uptime"] >= 0, stats
    assert isinstance(stats["Memory"], int) and stats["Memory"] > 0, stats
    assert {k: stats[k] for k in RUNTIME_KEYS - {"Uptime", "Memory"}} == {
        "MessagesDeleted": 1, "SMTPAccepted": 3, "SMTPAcceptedSize": len(PLAIN) + len(MIXED) + len(WEEKLY),
        "SMTPRejected": 0, "SMTPIgnored": 0}
    api.message("latest")
    assert api.get_json("/api/v1/info")["Unread"] == 1


def test_livez_is_open_with_a_token_and_the_mailpit_routes_are_not(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory", "--api-token", TOKEN)
    anonymous, right = Api(server), Api(server, TOKEN)
    assert anonymous.request("GET", "/livez").status_code == 200
    for method, path in (("GET", "/api/v1/messages"), ("GET", "/api/v1/message/latest"),
                         ("GET", "/api/v1/search?query=x"), ("GET", "/api/v1/info"), ("GET", "/api/v1/chaos"),
                         ("DELETE", "/api/v1/messages"), ("PUT", "/api/v1/chaos")):
        assert_json_error(anonymous.request(method, path), 401, "Authorization")
    assert right.messages()["total"] == 0
    assert right.chaos() == DEFAULT_CHAOS, "the refused PUT changed nothing"


def test_without_capture_nothing_is_listed_and_ids_are_404(sinkhole):
    server = sinkhole("--mode", "accept")
    api = Api(server)
    message_id = send(server, PLAIN, *PLAIN_ENVELOPE)
    listed = api.messages()
    assert (listed["total"], listed["count"], listed["messages"]) == (0, 0, [])
    assert api.search("report")["messages"] == []
    assert_json_error(api.request("GET", f"/api/v1/message/{message_id}"), 404, "ID")
    assert_json_error(api.request("GET", "/api/v1/message/latest"), 404, "ID")


# -- chaos ------------------------------------------------------------------------------------


def test_chaos_is_always_on_with_mailpits_defaults(api):
    assert api.chaos() == DEFAULT_CHAOS


def test_a_recipient_trigger_refuses_every_rcpt_and_keeps_the_session(server, api):
    changed = {**DEFAULT_CHAOS, "Recipient": {"ErrorCode": 450, "Probability": 100}}
    assert api.set_chaos({"Recipient": {"ErrorCode": 450, "Probability": 100}}) == changed
    assert api.chaos() == changed
    client = server.smtp()
    client.ehlo()
    assert client.mail("sender@example.com") == MAIL_OK
    assert client.rcpt("one@example.com") == (450, b"Chaos recipient error")
    assert client.rcpt("two@example.com") == (450, b"Chaos recipient error")
    assert client.noop()[0] == 250
    # Switched back live: the same open transaction takes the next recipient.
    assert api.set_chaos({}) == DEFAULT_CHAOS
    assert client.rcpt("three@example.com") == RCPT_OK
    message_id = queue_id(client.data(b"Subject: after chaos\r\n\r\nx\r\n"))
    client.quit()
    listed = api.wait_for_total(1)
    assert [m["ID"] for m in listed["messages"]] == [message_id]
    assert listed["messages"][0]["Bcc"] == [addr("three@example.com")]


def test_a_sender_trigger_refuses_mail_from(server, api):
    api.set_chaos({"Sender": {"ErrorCode": 452, "Probability": 100}})
    client = server.smtp()
    client.ehlo()
    assert client.mail("sender@example.com") == (452, b"Chaos sender error")
    assert client.rcpt("one@example.com") == NEED_MAIL
    assert client.mail("sender@example.com") == (452, b"Chaos sender error")
    assert client.noop()[0] == 250
    client.quit()


def test_a_421_recipient_trigger_closes_the_session(server, api):
    api.set_chaos({"Recipient": {"ErrorCode": 421, "Probability": 100}})
    client = raw_session(server)
    assert client.command(b"MAIL FROM:<sender@example.com>") == MAIL_OK
    assert client.command(b"RCPT TO:<one@example.com>") == (421, b"Chaos recipient error")
    assert client.at_eof(), "the session stayed open after a 421"
    client.close()


def test_probability_0_never_fires_and_authentication_is_only_stored(server, api):
    body = {"Sender": {"ErrorCode": 550, "Probability": 0}, "Recipient": {"ErrorCode": 550, "Probability": 0},
            "Authentication": {"ErrorCode": 454, "Probability": 100}}
    assert api.set_chaos(body) == body
    for _ in range(20):
        client = server.smtp()
        client.ehlo()
        assert client.mail("sender@example.com") == MAIL_OK
        assert client.rcpt("one@example.com") == RCPT_OK
        client.quit()
    assert api.chaos() == body


def test_omitted_triggers_reset_and_code_0_or_missing_means_the_default(api):
    api.set_chaos({"Sender": {"ErrorCode": 452, "Probability": 30}, "Recipient": {"ErrorCode": 550, "Probability": 40},
                   "Authentication": {"ErrorCode": 454, "Probability": 50}})
    assert api.set_chaos({"Recipient": {"ErrorCode": 0, "Probability": 20}}) == {
        **DEFAULT_CHAOS, "Recipient": {"ErrorCode": 451, "Probability": 20}}
    assert api.set_chaos({"Authentication": {"Probability": 10}}) == {
        **DEFAULT_CHAOS, "Authentication": {"ErrorCode": 535, "Probability": 10}}
    assert api.chaos() == {**DEFAULT_CHAOS, "Authentication": {"ErrorCode": 535, "Probability": 10}}


BAD_CHAOS = {
    "code 399": ({"Recipient": {"ErrorCode": 399, "Probability": 10}}, "ErrorCode"),
    "code 600": ({"Sender": {"ErrorCode": 600, "Probability": 10}}, "ErrorCode"),
    "code 250": ({"Authentication": {"ErrorCode": 250, "Probability": 10}}, "ErrorCode"),
    "probability 101": ({"Recipient": {"ErrorCode": 450, "Probability": 101}}, "Probability"),
    "probability -1": ({"Sender": {"ErrorCode": 450, "Probability": -1}}, "Probability"),
}


@pytest.mark.parametrize("body,field", BAD_CHAOS.values(), ids=BAD_CHAOS.keys())
def test_bad_chaos_is_a_400_naming_the_field_and_changes_nothing(server, api, body, field):
    kept = {**DEFAULT_CHAOS, "Sender": {"ErrorCode": 452, "Probability": 100}}
    api.set_chaos({"Sender": {"ErrorCode": 452, "Probability": 100}})
    response = api.request("PUT", "/api/v1/chaos", json=body)
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    error = response.json()
    assert isinstance(error.get("error"), str) and error["error"], error
    assert field in error.get("field", ""), error
    assert api.chaos() == kept
    client = server.smtp()
    client.ehlo()
    assert client.mail("sender@example.com") == (452, b"Chaos sender error")
    client.quit()


def test_a_chaos_body_that_is_not_json_is_a_400(api):
    response = api.request("PUT", "/api/v1/chaos", data=b"{not json")
    assert response.status_code == 400, (response.status_code, response.text)
    assert api.chaos() == DEFAULT_CHAOS


# -- the mailpit-api-client package ------------------------------------------------------------
# Its calls and what they send (mailpit/client/api.py, 1.0.0):
#   get_messages(limit, start)   GET /api/v1/messages?limit=&start=
#   get_message(id)              GET /api/v1/message/{id}
#   get_message_headers(id)      GET /api/v1/message/{id}/headers; its Headers model needs the keys
#                                Content-Type, Date, Delivered-To, From and Message-Id (KeyError
#                                without one), so the message below carries them all
#   delete_messages(ids)         DELETE /api/v1/messages with a FORM body `ids=<id>&...`, not JSON:
#                                Mailpit (and sinkhole) delete everything for a non-JSON body
#   put_messages(ids, key, val)  PUT /api/v1/messages with a form body `ids=..&Read=true`: not
#                                called here, the interface takes only JSON there (Mailpit itself
#                                answers 400 to this body)
#   get_message_attachment(...)  GET /api/v1/message/{id}/part/{PartID}: not called here, sinkhole
#                                has no /part route
# Its pytest fixture (mailpit.testing.pytest.mailpit_api) needs a URL known before the test runs,
# so it is not used either.

CLIENT_HEADERS_RAW = (b"From: Alice <alice@example.com>\r\n"
                      b"To: bob@example.org\r\n"
                      b"Delivered-To: bob@example.org\r\n"
                      b"Subject: for the client\r\n"
                      b"Date: Wed, 04 Jun 2025 12:00:00 +0000\r\n"
                      b"Message-Id: <client-1@example.com>\r\n"
                      b"Content-Type: text/plain; charset=utf-8\r\n"
                      b"\r\n"
                      b"hello client\r\n")


@pytest.fixture
def client_api(server):
    from mailpit.client.api import API  # the package is a `make deps` dependency

    return API(f"http://127.0.0.1:{server.http_port}", timeout=10)


def test_client_get_messages_and_get_message(server, api, client_api):
    from mailpit.client import models

    plain = send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    mixed = send_stored(server, api, MIXED, *MIXED_ENVELOPE)
    listed = client_api.get_messages()
    assert (listed.total, listed.unread, listed.count, listed.start) == (2, 2, 2, 0)
    assert [m.id for m in listed.messages] == [mixed, plain]
    summary = listed.messages[1]
    assert (summary.message_id, summary.read, summary.subject, summary.size, summary.attachments) == (
        "plain-1@example.com", False, "Quarterly report", len(PLAIN), 0)
    assert summary.from_ == models.Contact("Alice Example", "alice@example.com")
    assert summary.to == [models.Contact("Bob Builder", "bob@example.org"), models.Contact("", "carol@example.org")]
    assert summary.cc == [models.Contact("Dave, Jr.", "dave@example.net")]
    assert summary.bcc == [models.Contact("", "secret@example.com")]
    assert isinstance(summary.created, datetime.datetime) and summary.created.tzinfo is not None
    assert listed.messages[0].attachments == 1
    page = client_api.get_messages(limit=1, start=1)
    assert ([m.id for m in page.messages], page.count, page.start, page.total) == ([plain], 1, 1, 2)

    message = client_api.get_message(plain)
    assert (message.id, message.message_id, message.subject, message.size) == (
        plain, "plain-1@example.com", "Quarterly report", len(PLAIN))
    assert message.date == datetime.datetime(2025, 6, 2, 8, 0, tzinfo=datetime.timezone.utc)
    assert (message.html, message.inline, message.attachments) == ("", [], [])
    assert message.bcc == [models.Contact("", "secret@example.com")]
    with_attachment = client_api.get_message(mixed)
    assert [(a.file_name, a.content_type, a.content_id, a.size) for a in with_attachment.attachments] == [
        ("invoice.pdf", "application/pdf", "", len(PDF))]
    assert client_api.get_messages().unread == 0
    assert message.text == PLAIN_TEXT


def test_client_get_message_headers(server, api, client_api):
    message_id = send_stored(server, api, CLIENT_HEADERS_RAW, "alice@example.com", ["bob@example.org"])
    headers = client_api.get_message_headers(message_id)
    assert headers.content_type == ["text/plain; charset=utf-8"]
    assert headers.date == [datetime.datetime(2025, 6, 4, 12, 0, tzinfo=datetime.timezone.utc)]
    assert headers.delivered_to == ["bob@example.org"]
    assert headers.from_ == ["Alice <alice@example.com>"]
    assert headers.message_id == ["<client-1@example.com>"]
    assert headers.additional == {"To": ["bob@example.org"], "Subject": ["for the client"]}
    assert client_api.last_response.status_code == 200


def test_client_delete_messages_deletes_everything_as_it_does_on_mailpit(server, api, client_api):
    # The client sends `ids=<id>` form-encoded; a non-JSON body deletes all (Mailpit's rule).
    first = send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    send_stored(server, api, WEEKLY)
    client_api.delete_messages([first])
    assert (client_api.last_response.status_code, client_api.last_response.text) == (200, "ok")
    assert client_api.get_messages().total == 0
    send_stored(server, api, WEEKLY)
    client_api.delete_messages([])  # documented: an empty list deletes all
    assert api.messages()["total"] == 0


def test_client_raises_on_an_unknown_id(server, api, client_api):
    import httpx

    send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    with pytest.raises(httpx.HTTPStatusError) as raised:
        client_api.get_message("0123456789ABCDEF0")
    assert raised.value.response.status_code == 404
    assert raised.value.response.json()["field"] == "ID"


def test_before_lists_only_messages_received_earlier(server, api):
    first = send_stored(server, api, PLAIN, *PLAIN_ENVELOPE)
    base = f"http://127.0.0.1:{server.http_port}/api/v1/messages"
    # Everything so far was received before 2999, nothing before 2000.
    later = requests.get(base, params={"before": "2999-01-01"}, timeout=10).json()
    assert [m["ID"] for m in later["messages"]] == [first]
    assert requests.get(base, params={"before": "2000-01-01T00:00:00Z"}, timeout=10).json()["messages"] == []
    bad = requests.get(base, params={"before": "yesterday"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["field"] == "before"
