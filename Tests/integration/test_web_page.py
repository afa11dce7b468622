"""GET /: the operator's page, driven in a real browser (headless Chromium
through selenium and chromedriver).

The page reads and switches everything through the JSON API, so these tests
check what it shows against what the API says. They need the Debian packages
`chromium` and `chromium-driver` and the PyPI package `selenium`; without
them the tests fail (they do not skip), because the page is only tested here.

The last test leaves a screenshot of a realistic state in docs/web-page.png.
"""

from __future__ import annotations

import os

import shutil
import smtplib
import tempfile
from email.message import EmailMessage

import pytest
import requests

from conftest import REPO_ROOT

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as error:  # reported by the `browser` fixture, as a failure
    webdriver = None
    SELENIUM_MISSING = error

# Written to docs/ only when asked (SINKHOLE_SCREENSHOT=1), so a test run leaves the tree clean.
SCREENSHOT_TO_DOCS = os.environ.get("SINKHOLE_SCREENSHOT") == "1"
SCREENSHOT = REPO_ROOT / "docs" / "web-page.png"
WAIT = 10.0  # seconds: the page polls every 2 s and also refreshes on server-sent events
TOKEN = "page-test-token-0123"


@pytest.fixture
def browser():
    """A headless Chromium with a fresh profile, quit afterwards."""
    if webdriver is None:
        pytest.fail(f"selenium is missing ({SELENIUM_MISSING}): python3 -m pip install selenium")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail("chromium or chromedriver is missing: apt-get install -y chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="sinkhole-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = None
    try:
        # The driver is given, so selenium never tries to download one.
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=chromedriver))
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- helpers ------------------------------------------------------------------


def page_url(server) -> str:
    return f"http://127.0.0.1:{server.http_port}/"


def api(server, method: str, path: str, json=None, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"http://127.0.0.1:{server.http_port}{path}", json=json, headers=headers,
                            timeout=10)


def content(driver, selector: str) -> str:
    """An element's text as the page put it there (`.text` would apply CSS text-transform)."""
    return driver.find_element(By.CSS_SELECTOR, selector).get_attribute("textContent")


def wait_until(driver, condition, what: str):
    """`condition(driver)` once it is truthy. The page redraws a table when its data changes,
    so an element found a moment ago may be gone: that try is repeated."""
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: condition(d))
    except TimeoutException:
        raise AssertionError(f"the page never showed {what} within {WAIT}s;"
                             f" status: {content(driver, '#status')!r}; console: {console(driver)}") from None


def wait_for_text(driver, selector: str, expected: str) -> None:
    wait_until(driver, lambda d: content(d, selector) == expected, f"{selector} = {expected!r}")


def rows(driver, table: str) -> list:
    return driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")


def find_row(driver, table: str, text: str):
    return next((row for row in rows(driver, table) if text in row.get_attribute("textContent")), None)


def row_with(driver, table: str, text: str) -> str:
    """The text of the row of `table` that holds `text`, once the page shows it."""
    return wait_until(driver, lambda d: (row := find_row(d, table, text)) and row.text,
                      f"a row of #{table} holding {text!r}")


def open_row(driver, table: str, text: str) -> None:
    """Clicks the button in the row of `table` that holds `text`."""
    def click(d):
        row = find_row(d, table, text)
        if row is None:
            return False
        row.find_element(By.TAG_NAME, "button").click()
        return True
    wait_until(driver, click, f"a row of #{table} holding {text!r} to click")


def console(driver) -> list[str]:
    return [f"{entry['level']}: {entry['message']}" for entry in driver.get_log("browser")]


def assert_clean_console(driver, allowed: tuple[str, ...] = ()) -> None:
    """No script error and no CSP violation: nothing SEVERE but the expected failed loads."""
    allowed = ("/favicon.ico - ", *allowed)  # the browser asks for one; sinkhole has none (404)
    severe = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    unexpected = [message for message in severe if not any(fragment in message for fragment in allowed)]
    assert not unexpected, unexpected


def open_page(driver, server, mode: str) -> None:
    driver.get(page_url(server))
    wait_for_text(driver, "#mode", mode)


def switch(driver, mode: str) -> None:
    driver.find_element(By.ID, f"switch-{mode}").click()
    wait_for_text(driver, "#mode", mode)


def mail(subject: str, sender: str, to: str, body: str, attachment: bytes | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = f"<{subject.lower().replace(' ', '-')}@example.com>"
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="invoice.pdf")
    return message


# -- tests --------------------------------------------------------------------


def test_the_page_is_served_as_html_with_a_strict_policy(sinkhole):
    server = sinkhole("--mode", "defer")
    response = api(server, "GET", "/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy, policy
    assert response.text.startswith("<!doctype html>") and 'id="mode"' in response.text
    # Everything comes from the page itself: no external script, style or font.
    assert "http://" not in response.text and "https://" not in response.text


def test_the_mode_is_shown_switched_and_cleared(sinkhole, browser):
    server = sinkhole("--mode", "defer", "--capture", "memory")
    open_page(browser, server, "defer")
    assert content(browser, "#mode-source") == "static"
    assert browser.find_element(By.ID, "clear-override").get_attribute("disabled") is not None, "no override to clear"

    switch(browser, "bounce")
    wait_for_text(browser, "#mode-source", "api")
    mode = api(server, "GET", "/api/v1/mode").json()
    assert (mode["mode"], mode["source"]) == ("bounce", "api")
    assert browser.find_element(By.ID, "switch-bounce").get_attribute("aria-pressed") == "true"
    assert browser.title == "sinkhole: bounce"

    # A change made elsewhere shows up without a reload.
    assert api(server, "PUT", "/api/v1/mode", json={"mode": "accept", "ttl": "10m"}).status_code == 200
    wait_for_text(browser, "#mode", "accept")
    assert "Override ends in" in content(browser, "#mode-detail")

    browser.find_element(By.ID, "clear-override").click()
    wait_for_text(browser, "#mode", "defer")
    wait_for_text(browser, "#mode-source", "static")
    assert api(server, "GET", "/api/v1/mode").json()["override"] is None
    assert_clean_console(browser)


def test_captured_mail_and_sessions_appear_and_open(sinkhole, browser):
    server = sinkhole("--mode", "defer", "--capture", "memory")
    open_page(browser, server, "defer")
    # defer refuses RCPT, so switch to accept first.
    switch(browser, "accept")
    with server.smtp() as client:
        client.send_message(mail("Quarterly report", "alice@example.com", "bob@example.org",
                                 "Hello Bob,\n\nthe budget is <b>attached</b>.\n"))

    row = row_with(browser, "messages", "Quarterly report")
    assert "alice@example.com" in row and "bob@example.org" in row
    wait_for_text(browser, "#count-messages", "1")
    open_row(browser, "messages", "Quarterly report")
    wait_for_text(browser, "#message-subject", "Quarterly report")
    wait_until(browser, lambda d: "the budget is <b>attached</b>." in content(d, "#message-raw"), "the raw message")
    assert content(browser, "#message-raw").startswith("From: alice@example.com")
    headers = wait_until(browser, lambda d: [row.text for row in rows(d, "message-headers")], "the headers")
    assert "Subject Quarterly report" in headers, headers
    # Markup in the message stays text.
    assert not browser.find_elements(By.CSS_SELECTOR, "#message-raw b")
    # Viewing it leaves it unread.
    assert api(server, "GET", "/api/v1/messages").json()["messages"][0]["Read"] is False

    session = row_with(browser, "sessions", "alice@example.com")
    wait_for_text(browser, "#count-sessions", "1")
    assert "quit" in session
    open_row(browser, "sessions", "alice@example.com")
    wait_until(browser, lambda d: "C: QUIT" in content(d, "#transcript"), "the transcript")
    transcript = content(browser, "#transcript")
    assert "S: 220 sinkhole.test ESMTP sinkhole" in transcript and "S: 221 2.0.0 Bye" in transcript
    assert_clean_console(browser)


def test_a_refused_change_disables_the_buttons_until_the_token_is_given(sinkhole, browser):
    # GETs are open, changes need the token: the page loads, then a change gets 401.
    server = sinkhole("--mode", "defer", "--api-token", TOKEN, "--api-read-open")
    open_page(browser, server, "defer")
    assert not browser.find_element(By.ID, "auth").is_displayed()

    browser.find_element(By.ID, "switch-bounce").click()
    wait_until(browser, lambda d: d.find_element(By.ID, "mode-note").is_displayed(), "the 401 note")
    assert "401" in content(browser, "#mode-note")
    assert all(browser.find_element(By.ID, f"switch-{m}").get_attribute("disabled") is not None
               for m in ("defer", "bounce", "accept", "accept-log", "greylist"))
    assert browser.find_element(By.ID, "auth").is_displayed()
    assert api(server, "GET", "/api/v1/mode").json()["mode"] == "defer"

    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    wait_until(browser, lambda d: d.find_element(By.ID, "switch-bounce").is_enabled(), "the buttons enabled again")
    assert not browser.find_element(By.ID, "mode-note").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('sinkhole.api-token')") == TOKEN
    switch(browser, "bounce")
    assert api(server, "GET", "/api/v1/mode").json()["source"] == "api"
    assert_clean_console(browser, allowed=("status of 401",))


def test_a_screenshot_of_a_busy_sinkhole(sinkhole, browser, tmp_path):
    server = sinkhole("--mode", "defer", "--capture", "memory")
    rules = [
        {"id": "flaky", "command": "RCPT", "count_per": "recipient",
         "condition": {"operator": "contains", "matchingValue": "dave@"},
         "responses": [{"code": 451, "enhancedCode": "4.2.0", "message": "Try later"},
                       {"code": 451, "enhancedCode": "4.2.0", "message": "Try later"}, "pass"]},
        {"id": "full-once", "command": ".", "numberOfAnswer": 1,
         "response": {"code": 452, "enhancedCode": "4.2.2", "message": "Mailbox full"}},
    ]
    assert api(server, "POST", "/api/v1/rules", json=rules).status_code == 201
    open_page(browser, server, "defer")

    switch(browser, "bounce")
    with server.smtp() as client, pytest.raises(smtplib.SMTPRecipientsRefused):
        client.send_message(mail("Newsletter", "news@example.com", "nobody@example.net", "Unwanted."))

    switch(browser, "accept")
    messages = [
        mail("Full mailbox", "alice@example.com", "bob@example.org", "Refused at the dot, once."),
        mail("Quarterly report", "alice@example.com", "bob@example.org", "Hello Bob,\n\nthe budget is attached.\n"),
        mail("Invoice attached", "billing@example.com", "frank@example.net", "Please find the invoice attached.\n",
             attachment=b"%PDF-1.4\n" + bytes(1015)),
        mail("Password reset", "no-reply@example.com", "carol@example.org", "Your code is 314159.\n"),
    ]
    with server.smtp() as client, pytest.raises(smtplib.SMTPDataError):  # full-once, at the dot
        client.send_message(messages[0])
    for message in messages[1:]:
        with server.smtp() as client:
            client.send_message(message)
    with server.smtp() as client, pytest.raises(smtplib.SMTPRecipientsRefused):  # flaky, at RCPT
        client.send_message(mail("Retry me", "alice@example.com", "dave@example.net", "Deferred twice."))

    switch(browser, "greylist")
    with server.smtp() as client, pytest.raises(smtplib.SMTPRecipientsRefused):
        client.send_message(mail("Greylisted", "alice@example.com", "erin@example.org", "Try again later."))
    switch(browser, "accept")

    row_with(browser, "messages", "Password reset")
    row_with(browser, "greylist", "127.0.0.1")
    wait_for_text(browser, "#count-messages", "3")
    wait_until(browser, lambda d: len(rows(d, "sessions")) == 7, "7 sessions")
    wait_until(browser, lambda d: "exhausted" in content(d, "#rules"), "full-once used up")
    open_row(browser, "messages", "Quarterly report")
    wait_until(browser, lambda d: "Hello Bob" in content(d, "#message-raw"), "the raw message")
    # The window's 900 px include room for a toolbar: make the page itself 1280x900.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    browser.execute_script("window.scrollTo(0, 0)")
    target = SCREENSHOT if SCREENSHOT_TO_DOCS else tmp_path / "web-page.png"
    assert browser.save_screenshot(str(target)), "no screenshot"
    assert target.stat().st_size < 400_000, "the screenshot is larger than a docs image should be"
    assert_clean_console(browser)
