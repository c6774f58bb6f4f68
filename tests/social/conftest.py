"""Fixtures for the channel tests: a fake provider on loopback, a task recorder, channels and signing.

The fake provider is a real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, a free port) that records
every request and answers from a script, so connectors are tested down to the socket. Tasks are recorded
instead of going to the django-q broker and run on demand, after the transaction's on-commit hooks (which
the test transaction never fires by itself) have run: a test can see that nothing was queued before commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from social.models import Channel
from social.services.channels import channel_create, channel_update_settings
from social.services.queue import drain_flag_clear


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeProvider:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    responses: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    default: tuple[int, Any, dict[str, str]] = (200, {}, {})

    def script(self, *responses: tuple[int, Any] | tuple[int, Any, dict[str, str]]) -> None:
        for item in responses:
            self.responses.append((item[0], item[1], item[2] if len(item) > 2 else {}))  # type: ignore[misc]

    def next_response(self) -> tuple[int, Any, dict[str, str]]:
        return self.responses.pop(0) if self.responses else self.default


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fake.requests.append(
                Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status, payload, headers = fake.next_response()
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class TaskRecorder:
    queued: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    scheduled: list[tuple[str, tuple[Any, ...], Any]] = field(default_factory=list)

    def commit(self) -> None:
        """Fire the on-commit hooks the test transaction holds (as a real commit would)."""
        while connection.run_on_commit:
            callbacks = list(connection.run_on_commit)
            connection.run_on_commit.clear()
            for _sids, callback, _robust in callbacks:
                callback()

    def run(self, limit: int = 50) -> list[Any]:
        """Commit, then run queued tasks (and what they queue) until none is left."""
        results = []
        self.commit()
        while self.queued and limit:
            limit -= 1
            func, args = self.queued.pop(0)
            results.append(_call(func, args))
            self.commit()
        return results

    def run_scheduled(self) -> list[Any]:
        """Run the scheduled (retry) tasks now, as the scheduler would once they are due."""
        self.commit()
        due, self.scheduled = self.scheduled, []
        results = []
        for func, args, at in due:
            wait = (at - timezone.now()).total_seconds()
            if wait > 0:  # the scheduler runs a task when it is due, not before (delays are tiny in tests)
                time.sleep(wait)
            results.append(_call(func, args))
            self.commit()
        return results


def _call(func: str, args: tuple[Any, ...]) -> Any:
    module, _, name = func.rpartition(".")
    return getattr(importlib.import_module(module), name)(*args)


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch, settings: Any, request: pytest.FixtureRequest) -> TaskRecorder:
    recorder = TaskRecorder()
    monkeypatch.setattr(
        "social.services.queue.async_task", lambda func, *args, **_options: recorder.queued.append((func, args))
    )
    monkeypatch.setattr(
        "social.services.queue.schedule",
        lambda func, *args, **kw: recorder.scheduled.append((func, args, kw["next_run"])),
    )
    settings.SOCIAL_SEND_BACKOFF_SECONDS = 0.01
    settings.SOCIAL_HTTP_TIMEOUT = 5
    settings.SOCIAL_DRAIN_GRACE_MS = 10  # each drain's closing wait (the tests drain hundreds of times)
    # A drain request seen by an earlier test (this process remembers it for the grace; the flag itself outlives
    # transactional tests in the cache table) would keep this test's webhooks from queueing a drain.
    monkeypatch.setattr("social.services.queue._flag_seen_at", float("-inf"))
    names = set(request.fixturenames)
    for database in ("transactional_db", "db"):  # set up now if the test uses it later: clearing needs it
        if database in names:
            request.getfixturevalue(database)
            break
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & names:
        drain_flag_clear()  # the flag lives in the cache table with the ORM broker
    return recorder


# --- Channels ----------------------------------------------------------------------------------------------


@pytest.fixture
def make_channel(db: None) -> Callable[..., Channel]:
    def _make(kind: str, name: str = "", **values: str) -> Channel:
        channel = channel_create(kind=kind, name=name or f"Test {kind}")
        return channel_update_settings(channel=channel, values=values)

    return _make


APP_SECRET = "meta-app-secret-0123456789"
TELEGRAM_TOKEN = "123456:ABC-telegram-token"
TWILIO_SID = "AC00000000000000000000000000000001"
TWILIO_TOKEN = "twilio-auth-token-0123456789"
API_SECRET = "partner-shared-secret-0123456789abcdef"


# --- Signing the providers' way ----------------------------------------------------------------------------


def meta_signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def twilio_signature(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def api_headers(body: bytes, secret: str = API_SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_SCRM_TIMESTAMP": str(stamp), "HTTP_X_SCRM_SIGNATURE": f"sha256={digest}"}


def post_json(client: Client, channel: Channel, payload: Any, **headers: str) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(f"/webhooks/{channel.webhook_key}/", data=body, content_type="application/json", **headers)


def post_form(client: Client, channel: Channel, params: dict[str, str], **headers: str) -> Any:
    return client.post(
        f"/webhooks/{channel.webhook_key}/",
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        **headers,
    )
