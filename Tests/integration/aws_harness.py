"""A local AWS for the SSM mode-source tests: moto_server with SigV4 checking on.

`MotoServer` starts moto on 127.0.0.1 (a free port), and while moto still
accepts anything it creates

- an IAM user `admin` allowed `*`, whose key the tests' own AWS CLI calls use,
- an IAM user `sinkhole` allowed only `ssm:GetParameter`, with an access key,
- an IAM role `sinkhole-task` with the same policy, for assumed-role (session)
  credentials,
- the SSM parameter /cabal/sinkhole_mode = defer (String).

Then it turns authentication on (`POST /moto-api/reset-auth`, body `0`): from
then on moto verifies every request's SigV4 signature and the IAM policies.
moto checks SSM permissions against resource `*` only, hence the policies.
moto answers authentication failures as XML with HTTP 403
(SignatureDoesNotMatch, InvalidClientTokenId, AccessDenied); SSM's own errors
(ParameterNotFound) are JSON with HTTP 400, as in real AWS.

`ContainerCredentialsEndpoint` plays the ECS/EKS container-credentials endpoint
(AWS_CONTAINER_CREDENTIALS_FULL_URI), and `sinkhole_env` builds the environment
of a sinkhole process that talks to this moto and to nothing else.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import botocore.session

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
PARAMETER = "/cabal/sinkhole_mode"
ROLE_NAME = "sinkhole-task"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}"
STARTUP_TIMEOUT = 30.0
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ALLOW_GET_PARAMETER = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}],
}
# moto evaluates the trust policy and does not read the account root ("...:root") as
# "any principal of the account whose own policy allows it": trust the admin user by name.
TRUST_THE_ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/admin"}, "Action": "sts:AssumeRole"}],
}


@dataclass(frozen=True)
class Keys:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class AWSCLIError(RuntimeError):
    def __init__(self, result: subprocess.CompletedProcess):
        self.result = result
        super().__init__(
            f"`{' '.join(result.args)}` exited with {result.returncode}\n"
            f"stderr: {result.stderr.strip()}\nstdout: {result.stdout.strip()}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def without_aws_variables(environ: dict[str, str] | os._Environ = os.environ) -> dict[str, str]:
    """`environ` without any AWS_* variable: the runner's own AWS setup never reaches a child."""
    return {k: v for k, v in environ.items() if not k.startswith("AWS_")}


def aws_cli() -> list[str]:
    """The AWS CLI: `aws` on PATH, else the awscli package of this Python (pip may put `aws` off PATH)."""
    on_path = shutil.which("aws")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("awscli") is not None:
        return [sys.executable, "-m", "awscli"]
    raise RuntimeError("the AWS CLI is not installed (`make deps` installs awscli)")


def iso8601(moment) -> str:
    """2026-11-24T15:00:00Z: the form the container-credentials endpoints use."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class MotoServer:
    """One moto_server process with the users, role and parameter above, auth on."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.stderr_lines: list[str] = []
        self._cond = threading.Condition()
        self._ready = False
        self._stderr_done = False
        try:
            self._start()
            self._create_principals_and_parameter()
            self._enable_auth()
        except BaseException:
            self.stop()
            raise

    # -- process ------------------------------------------------------------

    def _start(self) -> None:
        last_error = ""
        # Another process may take the free port between the probe and moto's bind: try again.
        for _ in range(3):
            self.port = free_port()
            self.endpoint = f"http://127.0.0.1:{self.port}"
            self.stderr_lines = []
            self._ready = self._stderr_done = False
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                env=without_aws_variables(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            self.pid = self.proc.pid
            threading.Thread(target=self._read_stderr, daemon=True).start()
            if self._wait_until_running():
                return
            last_error = "\n".join(self.stderr_lines[-10:])
            self.stop()
        raise RuntimeError(f"moto_server did not start: {last_error}")

    def _read_stderr(self) -> None:
        """Drains moto's stderr (it logs every request there) and notices werkzeug's ` * Running on`."""
        proc = self.proc
        assert proc is not None and proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.stderr_lines.append(line)
                del self.stderr_lines[:-200]
                if f"Running on {self.endpoint}" in line:
                    self._ready = True
                self._cond.notify_all()
        with self._cond:
            self._stderr_done = True
            self._cond.notify_all()

    def _wait_until_running(self) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: self._ready or self._stderr_done, timeout=STARTUP_TIMEOUT)
            if not self._ready:
                return False
        # werkzeug prints the line after binding: one request proves it answers.
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=10) as response:
            return response.status == 200

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> "MotoServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- set-up (auth still off) ---------------------------------------------

    def client(self, service: str, keys: Keys | None = None):
        """A boto3 client for this moto that reads no config or credentials file (nor AWS_PROFILE)."""
        keys = keys or self.admin
        # No environment variable names the profile (a runner's AWS_PROFILE would not exist here).
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        core.set_config_variable("config_file", os.devnull)
        core.set_config_variable("credentials_file", os.devnull)
        session = boto3.session.Session(
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            aws_session_token=keys.session_token,
            region_name=REGION,
            botocore_session=core,
        )
        return session.client(service, endpoint_url=self.endpoint)

    def _create_principals_and_parameter(self) -> None:
        # Any key works until auth is on; these are only for the set-up calls.
        self.admin = Keys("AKIASETUPSETUPSETUP0", "setup")
        iam = self.client("iam")

        def user_with_key(name: str, policy: dict) -> Keys:
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            return Keys(key["AccessKeyId"], key["SecretAccessKey"])

        admin = user_with_key("admin", ALLOW_ALL)
        self.sinkhole_user = user_with_key("sinkhole", ALLOW_GET_PARAMETER)
        iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST_THE_ADMIN))
        iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="ssm-get-parameter", PolicyDocument=json.dumps(ALLOW_GET_PARAMETER))
        self.role_arn = ROLE_ARN
        self.client("ssm").put_parameter(Name=PARAMETER, Value="defer", Type="String")
        self.admin = admin

    def _enable_auth(self) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "ok", answer

    # -- use (auth on) ---------------------------------------------------------

    def aws(self, *args: str, check: bool = True, keys: Keys | None = None) -> subprocess.CompletedProcess:
        """Runs the real AWS CLI against this moto, as the admin unless `keys` is given.

        The runner's AWS_* variables and ~/.aws are never used. Raises AWSCLIError
        (with the CLI's stderr) on a non-zero exit unless check=False.
        """
        keys = keys or self.admin
        env = without_aws_variables()
        env.update(
            AWS_ACCESS_KEY_ID=keys.access_key_id,
            AWS_SECRET_ACCESS_KEY=keys.secret_access_key,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
        )
        if keys.session_token:
            env["AWS_SESSION_TOKEN"] = keys.session_token
        result = subprocess.run(
            [*aws_cli(), "--endpoint-url", self.endpoint, "--region", REGION, "--output", "json", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AWSCLIError(result)
        return result

    def put_parameter(self, value: str) -> None:
        """Sets (or re-creates) the mode parameter as the admin, quickly (boto3, no CLI start-up)."""
        self.client("ssm").put_parameter(Name=PARAMETER, Value=value, Type="String", Overwrite=True)

    def assume_role(self, session_name: str = "sinkhole-test") -> dict:
        """Session credentials of the role: AccessKeyId, SecretAccessKey, SessionToken, Expiration (ISO 8601)."""
        credentials = self.client("sts").assume_role(RoleArn=self.role_arn, RoleSessionName=session_name)["Credentials"]
        return {
            "AccessKeyId": credentials["AccessKeyId"],
            "SecretAccessKey": credentials["SecretAccessKey"],
            "SessionToken": credentials["SessionToken"],
            "Expiration": iso8601(credentials["Expiration"]),
        }


class ContainerCredentialsEndpoint:
    """The ECS/EKS container-credentials endpoint: `GET /creds` with the right Authorization.

    Answers the credentials JSON only when the Authorization header equals
    `token`, else 401 with a small JSON error. Every request is recorded in
    `.requests` as {"method", "path", "authorization"} (the header's value or None).
    """

    def __init__(self, credentials: dict, token: str, role_arn: str = ROLE_ARN):
        self.body = json.dumps(
            {
                "AccessKeyId": credentials["AccessKeyId"],
                "SecretAccessKey": credentials["SecretAccessKey"],
                "Token": credentials["SessionToken"],
                "Expiration": credentials["Expiration"],
                "RoleArn": role_arn,
            }
        ).encode()
        self.token = token
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                authorization = self.headers.get("Authorization")
                with endpoint._lock:
                    endpoint.requests.append({"method": "GET", "path": self.path, "authorization": authorization})
                if self.path != "/creds":
                    self._answer(404, {"code": "NotFound", "message": f"no such path {self.path}"})
                elif authorization != endpoint.token:
                    self._answer(401, {"code": "Unauthorized", "message": "missing or wrong Authorization token"})
                else:
                    self._answer(200, None)

            def _answer(self, status: int, error: dict | None) -> None:
                body = endpoint.body if error is None else json.dumps(error).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/creds"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def recorded(self) -> list[dict]:
        with self._lock:
            return list(self.requests)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> "ContainerCredentialsEndpoint":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def sinkhole_env(
    moto: MotoServer,
    home: Path,
    keys: Keys | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The AWS environment of a sinkhole process that may reach only this moto.

    `home` (an empty temporary directory) becomes HOME; the shared credentials
    and config files point at names in it that do not exist; instance metadata
    is off. `keys` become AWS_ACCESS_KEY_ID etc.; `extra` adds more (container
    variables). Pass the result as `env=`: conftest's clean_environment strips
    the runner's own AWS_* variables before adding these.
    """
    env = {
        "HOME": str(home),
        "AWS_ENDPOINT_URL_SSM": moto.endpoint,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-such-aws-credentials"),
        "AWS_CONFIG_FILE": str(home / "no-such-aws-config"),
    }
    if keys is not None:
        env["AWS_ACCESS_KEY_ID"] = keys.access_key_id
        env["AWS_SECRET_ACCESS_KEY"] = keys.secret_access_key
        if keys.session_token:
            env["AWS_SESSION_TOKEN"] = keys.session_token
    env.update(extra or {})
    return env
