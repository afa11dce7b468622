"""A private Postfix instance that relays `sinkhole.test` to a sinkhole under test.

The instance has its own configuration, queue and data directories, its own
`master.pid` and lock file, its own log file, and no `inet` service at all:
mail goes in with its own `sendmail -C DIR` and comes out through its `smtp`
client, which `transport_maps` points at sinkhole:

    sinkhole.test  smtp:[127.0.0.1]:PORT

So it can run next to a system Postfix without touching it (and never needs
one). Postfix runs as root here: its set-gid tools (`postdrop`, `postqueue`)
accept a non-default configuration directory from any other user only when the
system's /etc/postfix/main.cf lists it, and that file is not ours to touch.

Bounces go to the local sender `tester@localhost`, whose alias writes them to
a file (`mailbox_path`), where a test reads the DSN.

Retries happen only when a test asks for them: the backoff times are an hour,
so a deferred message stays put until `flush()` (`postqueue -f`, which also
clears Postfix's "dead destination" state). A test thus sees every queue
state it waits for, however slow the machine; with 1-second timers the retry
could overtake the check. docs/mta-integration.md lists the settings for
letting Postfix retry on its own within seconds.
"""

from __future__ import annotations

import email
import email.policy
import grp
import json
import mailbox
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

SENDER = "tester@localhost"
MAIL_OWNER = "postfix"
SETGID_GROUP = "postdrop"
# postqueue -j exists since Postfix 3.1.
MINIMUM_VERSION = (3, 1)
INSTALL_HINT = (
    "install Debian's postfix package: `make deps`, or by hand: "
    '`echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections`, then '
    "`DEBIAN_FRONTEND=noninteractive apt-get install -y postfix`"
)
COMMAND_TIMEOUT = 30.0
POLL_INTERVAL = 0.05

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
# No inet service: nothing listens. Mail comes in through sendmail -C.
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass(frozen=True)
class PostfixTools:
    """Where Postfix's commands are, and which version they are."""

    command_directory: Path
    version: str

    def path(self, name: str) -> str:
        return str(self.command_directory / name)


def find_postfix() -> PostfixTools:
    """The installed Postfix, or a test failure that says how to install it.

    A missing Postfix fails the test rather than skipping it: a skipped test
    would let `make test` pass on a machine that never ran the Postfix check.
    """
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    postconf = shutil.which("postconf", path=search)
    if postconf is None or shutil.which("postfix", path=search) is None:
        pytest.fail(f"Postfix is not installed (no postfix/postconf in PATH, /usr/sbin or /sbin): {INSTALL_HINT}")
    if os.geteuid() != 0:
        pytest.fail("the private Postfix instance must be started as root (postfix -c DIR start)")
    for what, lookup, name in [("user", pwd.getpwnam, MAIL_OWNER), ("group", grp.getgrnam, SETGID_GROUP)]:
        try:
            lookup(name)
        except KeyError:
            pytest.fail(f"no {what} {name!r}: the postfix package creates it; {INSTALL_HINT}")
    # -d: built-in defaults, so no /etc/postfix/main.cf is needed (a
    # "No configuration" install has none).
    result = subprocess.run(
        [postconf, "-d", "-h", "mail_version", "command_directory"],
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
    )
    if result.returncode != 0:
        pytest.fail(f"postconf -d failed ({result.returncode}): {result.stderr.strip()}")
    version, command_directory = result.stdout.split()
    if tuple(int(part) for part in version.split(".")[:2]) < MINIMUM_VERSION:
        pytest.fail(f"Postfix {version} is too old: these tests need postqueue -j (Postfix 3.1 or later)")
    return PostfixTools(Path(command_directory), version)


def make_message(subject: str) -> tuple[str, bytes]:
    """A small message from SENDER to anything@sinkhole.test: (its Message-ID, its bytes)."""
    message_id = f"<{uuid.uuid4().hex}@postfix.test>"
    text = (
        f"From: {SENDER}\nTo: anything@sinkhole.test\nSubject: {subject}\n"
        f"Message-ID: {message_id}\n\nsent through a private Postfix instance\n"
    )
    return message_id, text.encode()


class PostfixInstance:
    """One private Postfix instance under `root`; `start()` runs it, `stop()` stops it."""

    def __init__(self, tools: PostfixTools, root: Path, relay_port: int, extra_config: str = "",
                 allowed_problems: tuple[str, ...] = (), transport: str | None = None):
        """`extra_config`: main.cf lines after the harness's own (a later line wins);
        `allowed_problems`: patterns of warnings the test expects (not failures);
        `transport`: the route to sinkhole instead of `smtp:[127.0.0.1]:PORT`
        (`lmtp:unix:/path`, `lmtp:inet:127.0.0.1:PORT`)."""
        self.transport = transport or f"smtp:[127.0.0.1]:{relay_port}"
        self.extra_config = extra_config
        self.allowed_problems = allowed_problems
        self.tools = tools
        self.root = root
        self.config_dir = root / "etc"
        self.queue_dir = root / "queue"
        self.data_dir = root / "data"
        self.maillog = root / "maillog"
        self.mailbox_path = root / "mail" / "tester"
        self.relay_port = relay_port
        self._write_config()

    # -- configuration ------------------------------------------------------

    def _write_config(self) -> None:
        root = self.root
        # local(8) writes to a file named by an alias as `default_privs`
        # (nobody), so the mailbox directory belongs to nobody, and every
        # directory above it must be searchable: root is mode 0755.
        self.root.chmod(0o755)
        self.config_dir.mkdir()
        self.queue_dir.mkdir()  # `postfix start` creates its subdirectories, and data_dir
        self.mailbox_path.parent.mkdir()
        nobody = pwd.getpwnam("nobody")
        os.chown(self.mailbox_path.parent, nobody.pw_uid, nobody.pw_gid)
        self.maillog.touch()

        main_cf = f"""\
compatibility_level = 3.6
# Everything of this instance's own lives under {root}.
queue_directory = {self.queue_dir}
data_directory = {self.data_dir}
mail_owner = {MAIL_OWNER}
setgid_group = {SETGID_GROUP}
multi_instance_name = postfix-sinkhole-test
syslog_name = postfix-sinkhole-test
maillog_file = {self.maillog}
maillog_file_prefixes = {root}
# No inet service in master.cf; and were there one, loopback only.
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mta.postfix.test
mydomain = postfix.test
myorigin = $myhostname
mydestination = localhost
append_dot_mydomain = no
biff = no
relayhost =
# The route under test.
transport_maps = hash:{self.config_dir}/transport
# Bounces to {SENDER} land in a file.
alias_maps = hash:{self.config_dir}/aliases
alias_database = hash:{self.config_dir}/aliases
# The smtp client: straight to the bracketed IP, no DNS, no TLS, and a new
# connection per delivery (sinkhole keeps a session's mode for its whole life).
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtp_connection_cache_on_demand = no
smtp_connect_timeout = 5s
# Retries only when the test flushes (see postfix_harness.py).
queue_run_delay = 1h
minimal_backoff_time = 1h
maximal_backoff_time = 1h
"""
        if self.extra_config:
            # The test's settings replace the harness's (a repeated key is a Postfix warning).
            keys = {line.split("=", 1)[0].strip() for line in self.extra_config.splitlines() if "=" in line}
            main_cf = "".join(line + "\n" for line in main_cf.splitlines() if line.split("=", 1)[0].strip() not in keys)
            main_cf += "# The test's own settings.\n" + self.extra_config.strip() + "\n"
        (self.config_dir / "main.cf").write_text(main_cf)
        (self.config_dir / "master.cf").write_text(MASTER_CF)
        (self.config_dir / "transport").write_text(f"sinkhole.test {self.transport}\n")
        (self.config_dir / "aliases").write_text(f"{SENDER.split('@')[0]}: {self.mailbox_path}\n")
        self._run("postmap", "-c", str(self.config_dir), f"hash:{self.config_dir}/transport")
        self._run("postalias", "-c", str(self.config_dir), f"hash:{self.config_dir}/aliases")

    # -- commands -----------------------------------------------------------

    def _run(self, command: str, *args: str, input: bytes | None = None, check: bool = True):
        result = subprocess.run(
            [self.tools.path(command), *args],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{command} {' '.join(args)} exited {result.returncode}: {result.stderr.decode(errors='replace')}"
                f"\nmaillog:\n{self.maillog_tail()}"
            )
        return result

    def _postfix(self, action: str, check: bool = True):
        return self._run("postfix", "-c", str(self.config_dir), action, check=check)

    def running(self) -> bool:
        """`postfix status`: whether this instance's master holds its lock file."""
        return self._postfix("status", check=False).returncode == 0

    def start(self) -> None:
        """`postfix start`, which returns once the master process has started."""
        self._postfix("start")
        assert self.running(), f"postfix start returned, yet the master is not running\n{self.maillog_tail()}"

    def stop(self) -> None:
        """`postfix stop` (waits up to 5 s by itself); then SIGKILL by master.pid if still running."""
        if not self.running():
            return
        self._postfix("stop", check=False)
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        if self.running():
            self._kill_master()

    def _kill_master(self) -> None:
        """The fallback: SIGKILL the master's process group (as `postfix stop` itself would)."""
        try:
            pid = int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)

    def restart(self) -> None:
        self.stop()
        assert not self.running()
        self.start()

    def sendmail(self, message: bytes, recipient: str = "anything@sinkhole.test", sender: str = SENDER,
                 also: tuple[str, ...] = ()) -> None:
        """Submits through this instance's sendmail (postdrop into its maildrop); `also`: more recipients."""
        self._run("sendmail", "-C", str(self.config_dir), "-f", sender, "-i", "--", recipient, *also, input=message)

    def flush(self) -> None:
        """`postqueue -f`: retry every queued message now, dead destinations included."""
        self._run("postqueue", "-c", str(self.config_dir), "-f")

    def queue(self) -> list[dict]:
        """`postqueue -j`: one dict per queued message."""
        out = self._run("postqueue", "-c", str(self.config_dir), "-j").stdout.decode()
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def queue_id_of(self, message_id: str, timeout: float = 10.0) -> str:
        """The Postfix queue id that cleanup logged for `message_id`."""
        match = self.wait_for_maillog(rf"cleanup\[\d+\]: ([0-9A-F]+): message-id={re.escape(message_id)}$", timeout)
        return match.group(1)

    def queue_file(self, queue_id: str, queue_name: str) -> list[Path]:
        """The queue file of `queue_id` in `queue_name` (deferred/, active/...), at any hash depth."""
        return list((self.queue_dir / queue_name).rglob(queue_id))

    # -- waiting ------------------------------------------------------------

    def wait_for_queue(self, predicate, what: str, timeout: float = 10.0) -> list[dict]:
        """Polls `postqueue -j` until `predicate(entries)` holds; returns the entries."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.queue()
            if predicate(entries):
                return entries
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"queue never showed {what} within {timeout}s; last `postqueue -j`: {entries}"
                    f"\nmaillog:\n{self.maillog_tail()}"
                )
            time.sleep(POLL_INTERVAL)

    def wait_for_deferred(self, queue_id: str, timeout: float = 10.0) -> dict:
        """The `postqueue -j` entry of `queue_id` once it sits in the deferred queue."""
        entries = self.wait_for_queue(
            lambda es: any(e["queue_id"] == queue_id and e["queue_name"] == "deferred" for e in es),
            f"{queue_id} deferred", timeout,
        )
        return next(e for e in entries if e["queue_id"] == queue_id)

    def wait_for_empty_queue(self, timeout: float = 10.0) -> None:
        self.wait_for_queue(lambda es: es == [], "an empty queue", timeout)

    def maillog_text(self) -> str:
        return self.maillog.read_text(errors="replace")

    def maillog_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.maillog_text().splitlines()[-lines:])
        except OSError as error:
            return f"(no maillog: {error})"

    def wait_for_maillog(self, pattern: str, timeout: float = 10.0, count: int = 1) -> re.Match:
        """The `count`-th line of the instance's log matching `pattern` (a regex, multiline)."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            matches = list(regex.finditer(self.maillog_text()))
            if len(matches) >= count:
                return matches[count - 1]
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{len(matches)} of {count} maillog lines matching {pattern!r} within {timeout}s:\n"
                    f"{self.maillog_tail()}"
                )
            time.sleep(POLL_INTERVAL)

    def problems(self) -> list[str]:
        """Log lines with a Postfix warning, error, fatal or panic."""
        return [line for line in self.maillog_text().splitlines()
                if re.search(r": (warning|error|fatal|panic): ", line)
                and not any(re.search(pattern, line) for pattern in self.allowed_problems)]

    # -- the sender's mailbox -----------------------------------------------

    def mailbox_messages(self) -> list[email.message.EmailMessage]:
        """The messages in the sender's mailbox file (read them after their delivery is logged)."""
        if not self.mailbox_path.exists():
            return []
        box = mailbox.mbox(self.mailbox_path, create=False)
        try:
            return [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in box.keys()]
        finally:
            box.close()

    def wait_for_bounce(self, queue_id: str, timeout: float = 10.0) -> tuple[str, email.message.EmailMessage]:
        """The DSN that bounce(8) made for `queue_id`, once local(8) has written it to the mailbox.

        Returns (the DSN's queue id, the DSN). Waiting for the delivery's log
        line first means the file is never read half written.
        """
        notice = self.wait_for_maillog(
            rf"bounce\[\d+\]: {queue_id}: sender non-delivery notification: ([0-9A-F]+)$", timeout
        )
        dsn_id = notice.group(1)
        self.wait_for_maillog(
            rf"local\[\d+\]: {dsn_id}: to=<{re.escape(SENDER)}>, relay=local, .*"
            rf"status=sent \(delivered to file: {re.escape(str(self.mailbox_path))}\)$",
            timeout,
        )
        dsns = [m for m in self.mailbox_messages() if f"id {dsn_id};" in str(m["Received"])]
        assert len(dsns) == 1, f"{len(dsns)} messages in {self.mailbox_path} have queue id {dsn_id}"
        return dsn_id, dsns[0]


def new_instance_root() -> Path:
    """A fresh directory for one instance, world-searchable (see _write_config).

    Not under pytest's tmp_path: its base directory (/tmp/pytest-of-root) is
    mode 0700, which local(8) running as nobody could not get through.
    """
    return Path(tempfile.mkdtemp(prefix="sinkhole-postfix-"))
