"""What the webhook tests share: a partner's receiver (a real HTTP server on loopback that checks signatures
with the partner-side code from the README), a task recorder for the delivery tasks, a clock that can be
moved forward, and a second partner (Olga's marketing tool) next to Paul's shop.

Test modules import the fixtures (registered under their short names): ``from tests.api.webhooks_support import
receiver_fixture``, ``hooks_fixture``, ``clock_fixture``, ``olga_fixture``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import ApiKey, User
from crm.services.api_keys import api_key_create


# --- The partner's side, exactly as README shows it ---------------------------------------------------------
def verify_webhook(secret: str, body: bytes, headers: Mapping[str, str], tolerance: int = 300) -> bool:
    """True when a request really comes from the CRM: a fresh timestamp and a matching signature."""
    timestamp = headers.get("X-SCRM-Timestamp", "")
    signature = headers.get("X-SCRM-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


# --- Receiver ------------------------------------------------------------------------------------------------
@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers from ``script`` (then ``default``); ``secret`` is what the partner was given at subscription."""

    url: str = ""
    secret: str = ""
    received: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    default: int = 200

    def events(self) -> list[str]:
        return [r.json()["event"] for r in self.received]


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            verified = verify_webhook(state.secret, body, self.headers) if state.secret else False
            state.received.append(Received(dict(self.headers.items()), body, verified))
            status = state.script.pop(0) if state.script else state.default
            answer = b'{"ok": true}' if status < 300 else b'{"error": "try later"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/crm"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# --- Tasks ---------------------------------------------------------------------------------------------------
@dataclass
class HookTasks:
    """Delivery tasks are recorded instead of going to django-q: ``run`` commits (fires the on-commit hooks
    the test transaction holds, as a real commit would) and runs what was queued; ``run_scheduled`` runs the
    retries that were scheduled (move the ``clock`` to their time first)."""

    queued: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    scheduled: list[tuple[str, tuple[Any, ...], dt.datetime]] = field(default_factory=list)

    def commit(self) -> None:
        while connection.run_on_commit:
            callbacks = list(connection.run_on_commit)
            connection.run_on_commit.clear()
            for _sids, callback, _robust in callbacks:
                callback()

    def run(self) -> list[Any]:
        self.commit()
        results = []
        while self.queued:
            func, args = self.queued.pop(0)
            results.append(_call(func, args))
            self.commit()
        return results

    def run_scheduled(self) -> list[Any]:
        self.commit()
        due, self.scheduled = self.scheduled, []
        results = [_call(func, args) for func, args, _at in due]
        self.commit()
        return results + self.run()


def _call(func: str, args: tuple[Any, ...]) -> Any:
    module, _, name = func.rpartition(".")
    return getattr(importlib.import_module(module), name)(*args)


@pytest.fixture(name="hooks")
def hooks_fixture(monkeypatch: pytest.MonkeyPatch) -> HookTasks:
    recorder = HookTasks()
    monkeypatch.setattr("crm.webhooks.queue.async_task", lambda func, *args: recorder.queued.append((func, args)))
    monkeypatch.setattr(
        "crm.webhooks.queue.schedule",
        lambda func, *args, **kw: recorder.scheduled.append((func, args, kw["next_run"])),
    )
    return recorder


# --- Clock ---------------------------------------------------------------------------------------------------
@dataclass
class Clock:
    now: dt.datetime

    def move_to(self, when: dt.datetime) -> None:
        self.now = max(self.now, when)

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture(name="clock")
def clock_fixture(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """``timezone.now()`` everywhere (auto_now fields too) reads this clock, which only moves when told."""
    fake = Clock(timezone.now())
    monkeypatch.setattr(timezone, "now", lambda: fake.now)
    return fake


# --- Personas ------------------------------------------------------------------------------------------------
@pytest.fixture(name="olga")
def olga_fixture(db: None) -> User:
    """A second partner: Olga's marketing tool, with an account of its own."""
    return User.objects.create_user(username="olga-marketing", email="dev@marketing.example", password=None)


# What a subscribing partner's key holds: webhooks, and read access to what it hears about.
PARTNER_SCOPES = [
    "webhooks:write",
    "contacts:read",
    "companies:read",
    "orders:read",
    "conversations:read",
    "messages:read",
]


def client_for(user: User, scopes: list[str], *, created_by: User | None = None) -> tuple[APIClient, ApiKey]:
    key, secret = api_key_create(
        name=f"{user.username} key", user=user, scopes=scopes, expires_at=None, created_by=created_by
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client, key


def subscribe(client: APIClient, receiver: Receiver, events: list[str]) -> dict[str, Any]:
    """Subscribe through the API and hand the secret to the receiver, as the partner would."""
    response = client.post("/api/v1/webhook-subscriptions/", {"url": receiver.url, "events": events}, format="json")
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    receiver.secret = body["secret"]
    return body
