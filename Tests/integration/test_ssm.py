"""--mode-source ssm:NAME: the mode read from AWS SSM Parameter Store, here moto with SigV4 checking on.

One moto serves the whole module (starting it and creating its users takes
about a second); every test starts from the parameter set to `defer` and its
own sinkhole, with an environment that reaches only this moto (aws_harness).
The parameter is changed with the real AWS CLI where the change is what is
tested, and with boto3 (fast) where it only sets the scene.
"""

from __future__ import annotations

import time

import pytest

from aws_harness import (
    PARAMETER,
    ContainerCredentialsEndpoint,
    Keys,
    MotoServer,
    sinkhole_env,
)
from conftest import DEFERRED, RCPT_OK, assert_one_line_error, rcpt_reply, run_sinkhole, wait_for_rcpt_reply

SOURCE = f"ssm:{PARAMETER}"
TTL = "2s"
# A change must show within the TTL; the rest is slack for a loaded 2-core machine.
SWITCH_DEADLINE = 2.0 + 4.0
CONTAINER_TOKEN = "Bearer-ish container token: 5f1c9a"


@pytest.fixture(scope="module")
def module_moto():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def moto(module_moto):
    """The module's moto with the parameter back at `defer` (re-created if a test deleted it)."""
    module_moto.put_parameter("defer")
    return module_moto


@pytest.fixture
def endpoint(moto):
    """A container-credentials endpoint serving assumed-role session credentials."""
    server = ContainerCredentialsEndpoint(moto.assume_role(), token=CONTAINER_TOKEN)
    yield server
    server.stop()


def start(sinkhole, env):
    return sinkhole("--mode-source", SOURCE, "--mode-cache-ttl", TTL, env=env)


def is_error(e) -> bool:
    return e["event"] == "mode_source_error"


def test_user_keys_read_the_mode_and_a_cli_change_switches_it_within_the_ttl(
    sinkhole, moto, tmp_path, record_property
):
    server = start(sinkhole, sinkhole_env(moto, tmp_path, keys=moto.sinkhole_user))
    assert server.listening["mode"] == "defer"
    assert server.listening["mode_source"] == SOURCE
    assert rcpt_reply(server) == DEFERRED

    mark = server.mark()
    moto.aws("ssm", "put-parameter", "--name", PARAMETER, "--value", "accept", "--overwrite")
    took = wait_for_rcpt_reply(server, RCPT_OK, deadline=SWITCH_DEADLINE)
    record_property("seconds_from_put_parameter_to_changed_rcpt", round(took, 2))
    print(f"put-parameter -> first RCPT in the new mode: {took:.2f}s (TTL {TTL})")

    changed = server.wait_for_log(lambda e: e["event"] == "mode_changed", start=mark)
    assert (changed["old"], changed["new"], changed["source"]) == ("defer", "accept", SOURCE)
    assert server.logs(is_error) == []
    assert server.http_get("/readyz")[::2] == (200, "ready\n")
    samples = server.metrics()
    assert (samples['sinkhole_mode{mode="accept"}'], samples['sinkhole_mode{mode="defer"}']) == (1, 0)
    assert samples['sinkhole_mode_refreshes_total{source="ssm"}'] >= 2
    assert samples['sinkhole_mode_refresh_errors_total{source="ssm"}'] == 0
    server.assert_alive()


def test_wrong_secret_serves_the_fallback_and_never_switches(sinkhole, moto, tmp_path):
    wrong = Keys(moto.sinkhole_user.access_key_id, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    server = start(sinkhole, sinkhole_env(moto, tmp_path, keys=wrong))
    assert server.listening["mode"] == "defer"
    assert server.listening["mode_source"] == SOURCE

    error = server.wait_for_log(is_error, timeout=SWITCH_DEADLINE)
    assert error["source"] == SOURCE
    assert error["parameter"] == PARAMETER
    assert error["aws_error"] == "SignatureDoesNotMatch"
    assert error["http_status"] == "403"
    assert error["using"] == "defer"  # no good mode was ever read
    assert "kept" not in error
    assert rcpt_reply(server) == DEFERRED
    # Serving the fallback is not ready: a load balancer or ECS check can tell.
    assert server.http_get("/readyz")[::2] == (503, "not ready: no good value from the mode source yet\n")
    samples = server.metrics()
    assert samples["sinkhole_mode_known"] == 0
    assert samples['sinkhole_mode{mode="defer"}'] == 1
    assert samples['sinkhole_mode_refresh_errors_total{source="ssm"}'] >= 1

    moto.aws("ssm", "put-parameter", "--name", PARAMETER, "--value", "accept", "--overwrite")
    # The first error after the put may come from a request sent before it; the second cannot.
    for _ in range(2):
        mark = server.mark()
        again = server.wait_for_log(is_error, timeout=SWITCH_DEADLINE, start=mark)
        assert (again["aws_error"], again["http_status"], again["using"]) == ("SignatureDoesNotMatch", "403", "defer")
    assert rcpt_reply(server) == DEFERRED
    assert server.logs(lambda e: e["event"] == "mode_changed") == []
    server.assert_alive()
    # Neither the secret nor a signature ever reaches the log.
    logged = server.stdout_text() + "\n".join(server.stderr_lines)
    assert wrong.secret_access_key not in logged
    assert "Signature=" not in logged and "AWS4-HMAC-SHA256" not in logged


@pytest.mark.parametrize("token_from", ["variable", "file"])
def test_container_credentials_with_the_authorization_token(sinkhole, moto, endpoint, tmp_path, token_from):
    moto.put_parameter("accept")  # differs from the fallback, so the read is visible
    container = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url}
    if token_from == "variable":
        container["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = CONTAINER_TOKEN
    else:
        token_file = tmp_path / "eks-pod-identity-token"
        token_file.write_text(CONTAINER_TOKEN)  # no newline, as EKS writes it
        container["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(token_file)
    home = tmp_path / "home"
    home.mkdir()
    server = start(sinkhole, sinkhole_env(moto, home, extra=container))

    assert server.listening["mode"] == "accept"
    assert rcpt_reply(server) == RCPT_OK
    requests = endpoint.recorded()
    assert requests, "the container credentials endpoint was never called"
    assert all(r == {"method": "GET", "path": "/creds", "authorization": CONTAINER_TOKEN} for r in requests), requests

    # Refreshes sign with the same session credentials: a change still comes through.
    mark = server.mark()
    moto.put_parameter("defer")
    changed = server.wait_for_log(lambda e: e["event"] == "mode_changed", timeout=SWITCH_DEADLINE, start=mark)
    assert (changed["old"], changed["new"], changed["source"]) == ("accept", "defer", SOURCE)
    assert rcpt_reply(server) == DEFERRED
    assert server.logs(is_error) == []


@pytest.mark.parametrize("token", [None, "a wrong token"], ids=["no-token", "wrong-token"])
def test_container_endpoint_refusal_is_a_startup_error(moto, endpoint, tmp_path, token):
    container = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint.url}
    if token is not None:
        container["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
    result = run_sinkhole(
        "--listen", "127.0.0.1:0", "--mode-source", SOURCE, "--mode-cache-ttl", TTL,
        env=sinkhole_env(moto, tmp_path, extra=container),
    )
    assert result.returncode == 2, (result.returncode, result.stderr)
    line = assert_one_line_error(result, "401", endpoint.url, SOURCE)
    assert "container credentials endpoint" in line.lower(), line
    assert endpoint.recorded() and all(r["authorization"] == token for r in endpoint.recorded()), endpoint.recorded()
    assert b'"listening"' not in result.stdout


def test_parameter_deleted_while_running_keeps_the_last_good_mode(sinkhole, moto, tmp_path):
    moto.put_parameter("accept")
    server = start(sinkhole, sinkhole_env(moto, tmp_path, keys=moto.sinkhole_user))
    assert server.listening["mode"] == "accept"
    assert rcpt_reply(server) == RCPT_OK

    moto.aws("ssm", "delete-parameter", "--name", PARAMETER)
    mark = server.mark()
    error = server.wait_for_log(is_error, timeout=SWITCH_DEADLINE, start=mark)
    assert error["source"] == SOURCE
    assert error["parameter"] == PARAMETER
    assert error["aws_error"] == "ParameterNotFound"
    assert error["http_status"] == "400"
    assert error["kept"] == "accept"
    assert "using" not in error
    assert rcpt_reply(server) == RCPT_OK

    # The parameter back: the source recovers.
    moto.put_parameter("defer")
    changed = server.wait_for_log(lambda e: e["event"] == "mode_changed", timeout=SWITCH_DEADLINE, start=mark)
    assert (changed["old"], changed["new"]) == ("accept", "defer")
    assert rcpt_reply(server) == DEFERRED
    server.assert_alive()


def test_unknown_mode_value_keeps_the_last_good_mode(sinkhole, moto, tmp_path):
    moto.put_parameter("accept")
    server = start(sinkhole, sinkhole_env(moto, tmp_path, keys=moto.sinkhole_user))
    assert server.listening["mode"] == "accept"

    moto.aws("ssm", "put-parameter", "--name", PARAMETER, "--value", "sideways", "--overwrite")
    mark = server.mark()
    error = server.wait_for_log(is_error, timeout=SWITCH_DEADLINE, start=mark)
    assert 'unknown mode "sideways"' in error["reason"], error
    assert error["source"] == SOURCE
    assert error["kept"] == "accept"
    assert rcpt_reply(server) == RCPT_OK
    assert server.logs(lambda e: e["event"] == "mode_changed") == []
    server.assert_alive()


def test_no_credentials_anywhere_is_a_startup_error_naming_every_place(moto, tmp_path):
    started = time.monotonic()
    result = run_sinkhole(
        "--listen", "127.0.0.1:0", "--mode-source", SOURCE,
        env=sinkhole_env(moto, tmp_path),  # no keys, no container variables, IMDS off, no shared file
    )
    assert result.returncode == 2, (result.returncode, result.stderr)
    line = assert_one_line_error(result, SOURCE).lower()
    for place in ("environment", "container", "instance metadata", "shared credentials file"):
        assert place in line, f"{place!r} not in {line!r}"
    assert b'"listening"' not in result.stdout
    # IMDS is disabled, so nothing waits on 169.254.169.254.
    assert time.monotonic() - started < 10


def test_session_keys_without_their_token_are_refused(sinkhole, moto, tmp_path):
    """Assumed-role keys work only with their session token: without it moto answers InvalidClientTokenId."""
    moto.put_parameter("accept")
    session = moto.assume_role()
    without_token = Keys(session["AccessKeyId"], session["SecretAccessKey"])
    server = start(sinkhole, sinkhole_env(moto, tmp_path, keys=without_token))
    error = server.wait_for_log(is_error, timeout=SWITCH_DEADLINE)
    assert (error["aws_error"], error["http_status"], error["using"]) == ("InvalidClientTokenId", "403", "defer")
    assert rcpt_reply(server) == DEFERRED

    with_token = Keys(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
    other = start(sinkhole, sinkhole_env(moto, tmp_path / "other", keys=with_token))
    assert other.listening["mode"] == "accept"
