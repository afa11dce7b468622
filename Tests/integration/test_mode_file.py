"""--mode-file: editing the file switches the mode of new connections within the TTL."""

import os

from conftest import DEFERRED, RCPT_OK, rcpt_reply, run_sinkhole, wait_for_rcpt_reply

SWITCH_DEADLINE = 5.0  # seconds; the TTL is 0.5 s


def write_mode(path, text: str) -> None:
    """Replaces the file atomically, so the server never reads it half written."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def test_mode_file_switch_takes_effect_within_the_ttl(sinkhole, tmp_path, record_property):
    mode_file = tmp_path / "mode"
    write_mode(mode_file, "defer")
    server = sinkhole("--mode-file", str(mode_file), "--mode-cache-ttl", "500ms")
    source = f"file:{mode_file}"
    assert server.listening["mode"] == "defer"
    assert server.listening["mode_source"] == source
    assert rcpt_reply(server) == DEFERRED

    # defer -> accept
    write_mode(mode_file, "accept")
    took = wait_for_rcpt_reply(server, RCPT_OK)
    record_property("seconds_until_switch_seen", round(took, 2))
    changed = server.wait_for_log(lambda e: e["event"] == "mode_changed")
    assert (changed["old"], changed["new"], changed["source"]) == ("defer", "accept", source)

    # An unknown name: an error with the reason, and the last good mode kept.
    mark = server.mark()
    write_mode(mode_file, "bogus")
    error = server.wait_for_log(lambda e: e["event"] == "mode_source_error", timeout=SWITCH_DEADLINE, start=mark)
    assert "bogus" in error["reason"]
    assert error["source"] == source
    assert error["kept"] == "accept"
    assert rcpt_reply(server) == RCPT_OK
    # Refreshes happened since the switch (the error proves it), yet the change was logged once.
    assert len(server.logs(lambda e: e["event"] == "mode_changed")) == 1

    # The file deleted: an error, the last good mode kept.
    mark = server.mark()
    os.remove(mode_file)
    error = server.wait_for_log(
        lambda e: e["event"] == "mode_source_error" and "bogus" not in e["reason"],
        timeout=SWITCH_DEADLINE, start=mark,
    )
    assert "No such file" in error["reason"], error
    assert error["kept"] == "accept"
    assert rcpt_reply(server) == RCPT_OK

    # The file back, with another mode.
    write_mode(mode_file, "accept-log")
    server.wait_for_log(
        lambda e: e["event"] == "mode_changed" and e["new"] == "accept-log", timeout=SWITCH_DEADLINE
    )
    client = server.smtp()
    client.ehlo()
    client.mail("sender@example.com")
    assert client.rcpt("rcpt@sinkhole.test") == RCPT_OK
    code, _ = client.data(b"Subject: via accept-log\r\n\r\nbody\r\n")
    assert code == 250
    client.quit()
    logged = server.wait_for_log(lambda e: e["event"] == "message")
    assert "Subject: via accept-log" in logged["headers"]

    changes = [(e["old"], e["new"]) for e in server.logs(lambda e: e["event"] == "mode_changed")]
    assert changes == [("defer", "accept"), ("accept", "accept-log")]
    server.assert_alive()


def test_mode_names_in_the_file_are_case_insensitive_and_trimmed(sinkhole, tmp_path):
    """A file written by `echo accept > mode` ends in a newline: it must work."""
    mode_file = tmp_path / "mode"
    write_mode(mode_file, "defer")
    server = sinkhole("--mode-file", str(mode_file), "--mode-cache-ttl", "500ms")
    for text, mode in [("  ACCEPT-LOG \n", "accept-log"), ("Bounce\n", "bounce"), ("\taccept\r\n", "accept")]:
        mark = server.mark()
        write_mode(mode_file, text)
        event = server.wait_for_log(
            lambda e: e["event"] in ("mode_changed", "mode_source_error"), timeout=SWITCH_DEADLINE, start=mark
        )
        assert event["event"] == "mode_changed" and event["new"] == mode, f"{text!r}: {event}"


def test_mode_file_with_trailing_newline_at_startup(sinkhole, tmp_path):
    mode_file = tmp_path / "mode"
    mode_file.write_text("accept\n")  # what `echo accept > mode` writes
    server = sinkhole("--mode-file", str(mode_file))
    assert server.listening["mode"] == "accept"
    assert rcpt_reply(server) == RCPT_OK


def test_session_keeps_the_mode_it_started_with(sinkhole, tmp_path):
    mode_file = tmp_path / "mode"
    write_mode(mode_file, "accept")
    server = sinkhole("--mode-file", str(mode_file), "--mode-cache-ttl", "500ms")
    early = server.smtp()
    early.ehlo()
    write_mode(mode_file, "bounce")
    server.wait_for_log(lambda e: e["event"] == "mode_changed", timeout=SWITCH_DEADLINE)
    assert rcpt_reply(server) == (550, b"5.1.1 User unknown")
    # The session opened before the switch is still in accept mode.
    early.mail("sender@example.com")
    assert early.rcpt("rcpt@sinkhole.test") == RCPT_OK
    early.quit()


def test_missing_mode_file_at_startup_is_an_error(tmp_path):
    missing = tmp_path / "no-such-mode-file"
    result = run_sinkhole("--listen", "127.0.0.1:0", "--mode-file", str(missing))
    assert result.returncode != 0
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sinkhole: error: ")
    assert str(missing) in lines[0]
