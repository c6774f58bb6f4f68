"""Run the project as a user does: ``manage.py`` and servers in subprocesses with a controlled environment.

Every subprocess gets its own ``SCRM_VAR_DIR`` (a temporary folder) and none of the configuration variables
of the shell that runs the tests, unless a test sets them, so nothing touches the real ``var/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

# Variables the settings read (README's table). Inherited values would make a test depend on the shell.
CONFIG_VARIABLES = frozenset(
    {
        "SCRM_PRODUCTION",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "USE_X_FORWARDED_PROTO",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "DATABASE_URL",
        "DB_CONN_MAX_AGE",
        "TEST_DATABASE_NAME",
        "REDIS_URL",
        "Q_WORKERS",
        "Q_TIMEOUT",
        "Q_MAX_ATTEMPTS",
        "Q_SAVE_LIMIT",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS",
        "EMAIL_USE_SSL",
        "EMAIL_TIMEOUT",
        "EMAIL_BACKEND",
        "DEFAULT_FROM_EMAIL",
        "STAFF_REQUIRE_2FA",
        "MFA_TOTP_ISSUER",
        "LOGIN_FAILED_RATE_LIMIT",
        "PHONE_DEFAULT_REGION",
        "TIME_ZONE",
        "LOG_LEVEL",
        "SCRM_VAR_DIR",
        "API_RATE_LIMIT",
        "API_SYNC_SETTLE_SECONDS",
        "API_TOMBSTONE_RETENTION_DAYS",
        "CHANNEL_SECRETS_KEY",
        "LISTENING_FEED_TIMEOUT",
        "LISTENING_INGEST_MAX_ITEMS",
        "SOCIAL_CHANNEL_CACHE_SECONDS",
        "SOCIAL_DRAIN_BATCH",
        "SOCIAL_DRAIN_GRACE_MS",
        "SOCIAL_DRAIN_SECONDS",
        "SOCIAL_EVENT_MAX_ATTEMPTS",
        "SOCIAL_EVENT_RETENTION_DAYS",
        "SOCIAL_EVENT_STALE_SECONDS",
        "SOCIAL_HTTP_TIMEOUT",
        "SOCIAL_PUBLIC_URL",
        "SOCIAL_SEND_BACKOFF_SECONDS",
        "SOCIAL_SEND_MAX_ATTEMPTS",
        "SOCIAL_TRUST_FORWARDED_HEADERS",
        "WEBCHAT_MESSAGES_PER_MINUTE",
        "WEBHOOK_DISABLE_AFTER_HOURS",
        "WEBHOOK_LOG_RETENTION_DAYS",
        "WEBHOOK_RETRY_FIRST_SECONDS",
        "WEBHOOK_RETRY_HOURS",
        "WEBHOOK_RETRY_MAX_SECONDS",
        "WEBHOOK_SECRETS_KEY",
        "WEBHOOK_TIMEOUT",
        "DJANGO_SETTINGS_MODULE",
    }
)


def project_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """``os.environ`` without the project's configuration variables, plus ``SCRM_VAR_DIR`` and ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env.update(SCRM_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="config.settings", PYTHONUNBUFFERED="1")
    env.update(overrides)
    return env


def manage(*args: str, env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python manage.py <args>`` in the repository, as ``make`` runs it."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_python(code: str, *args: str, env: Mapping[str, str], timeout: float = 60) -> Any:
    """Run ``code`` (with ``args`` in ``sys.argv[1:]``) in a fresh interpreter in the repository; it must
    print one JSON document last, which is returned decoded."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    return free_port()


def get_json(url: str, *, timeout: float = 10, headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
    """GET ``url``; the status and the decoded JSON body, for error statuses too."""
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 - loopback http only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get_status(url: str, *, timeout: float = 10) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def wait_until(condition: Any, *, timeout: float, interval: float = 0.25, what: str = "condition") -> Any:
    """Call ``condition`` until it returns something truthy (connection errors count as not yet)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except (OSError, ValueError) as exc:  # refused, reset, not JSON yet
            last_error, result = exc, None
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})")


class Background:
    """A long-running command in its own session (process group), its output kept in files."""

    def __init__(self, args: list[str], *, env: Mapping[str, str], log_dir: Path, name: str, **popen: Any) -> None:
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(  # noqa: S603
                args, cwd=REPO_ROOT, env=dict(env), stdout=out, stderr=err, start_new_session=True, **popen
            )
        self.pid = self.proc.pid

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")

    def ensure_running(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"exited early with {self.proc.returncode}:\n{self.output()}")
        return True

    def kill_group(self) -> None:
        """Last resort after a failed test: nothing the test started may outlive it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def background(
    args: list[str], *, env: Mapping[str, str], log_dir: Path, name: str, **popen: Any
) -> Iterator[Background]:
    started = Background(args, env=env, log_dir=log_dir, name=name, **popen)
    try:
        yield started
    finally:
        started.kill_group()


def children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (read from /proc, so no psutil)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # Field 4 of /proc/<pid>/stat is the parent; the command name (field 2) may hold spaces.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


def is_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def marked_env(env: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """``env`` plus a unique marker that every descendant inherits, to find them all later."""
    marker = os.urandom(8).hex()
    return {**env, "SCRM_TEST_PROCESS_MARKER": marker}, marker


def processes_marked(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``marker`` from ``marked_env``."""
    needle = f"SCRM_TEST_PROCESS_MARKER={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0") and is_alive(int(entry.name)):
                    found.append(int(entry.name))
    return found
