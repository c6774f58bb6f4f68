"""Faults at the webhook URL: unknown or inactive channels, oversized and malformed bodies, a database
that is down, and a worker killed mid-task."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from crm.models import Contact
from social.models import Channel, InboundEvent, Message
from tests.social.conftest import TELEGRAM_TOKEN, post_json
from tests.social.test_telegram import update


@pytest.fixture
def telegram(make_channel: Any) -> Channel:
    return make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)


def signed(channel: Channel) -> dict[str, str]:
    return {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": channel.secret("webhook_secret")}


def test_unknown_key_is_404(db: None) -> None:
    assert Client().post("/webhooks/no-such-key/", data=b"{}", content_type="application/json").status_code == 404


def test_inactive_channel_is_404(telegram: Channel) -> None:
    Channel.objects.filter(pk=telegram.pk).update(is_active=False)
    assert post_json(Client(), telegram, update(), **signed(telegram)).status_code == 404
    assert InboundEvent.objects.count() == 0


def test_body_over_one_mebibyte_is_413(telegram: Channel) -> None:
    payload = update(text="x" * (1024 * 1024))
    assert post_json(Client(), telegram, payload, **signed(telegram)).status_code == 413
    assert InboundEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"message": {}}',
        b'{"edited_message": {"text": "x"}}',
        b'{"update_id": 5, "message": {}}',
    ],
)
def test_malformed_body_is_400(telegram: Channel, body: bytes) -> None:
    assert post_json(Client(), telegram, body, **signed(telegram)).status_code == 400
    assert InboundEvent.objects.count() == 0


def test_get_without_handshake_is_405(telegram: Channel) -> None:
    assert Client().get(f"/webhooks/{telegram.webhook_key}/").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_database_unavailable_answers_503_and_writes_nothing(make_channel: Any, settings: Any) -> None:
    """On PostgreSQL the real thing: the connection is pointed at a closed port. SQLite's in-memory test
    database would vanish with its connection, so there every query fails at the driver boundary instead."""
    channel = make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)
    headers = signed(channel)
    if connection.vendor == "sqlite":

        def refuse(*args: Any) -> None:
            raise OperationalError("unable to open database file")

        with connection.execute_wrapper(refuse):
            response = post_json(Client(), channel, update(), **headers)
    else:
        saved = dict(connection.settings_dict)
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT="9")  # discard port: connection refused
        try:
            response = post_json(Client(), channel, update(), **headers)
        finally:
            connection.close()
            connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert InboundEvent.objects.count() == 0 and Contact.objects.count() == 0


def test_worker_killed_mid_task_is_processed_on_retry_once(telegram: Channel, tasks: Any, settings: Any) -> None:
    """A worker died after claiming the event (attempt counted, nothing else committed)."""
    from social.tasks import requeue_stale_events

    post_json(Client(), telegram, update(), **signed(telegram))
    tasks.commit()
    tasks.queued.clear()  # the task died with its worker
    event = InboundEvent.objects.get()
    long_ago = timezone.now() - dt.timedelta(minutes=10)
    InboundEvent.objects.filter(pk=event.pk).update(attempts=1, last_attempt_at=long_ago, received_at=long_ago)

    assert requeue_stale_events() == 1
    tasks.run()
    assert requeue_stale_events() == 0  # processed now: nothing left to requeue
    event.refresh_from_db()
    assert event.status == "processed" and event.attempts == 2
    assert Message.objects.count() == 1


def test_event_given_up_after_max_attempts(telegram: Channel, tasks: Any, settings: Any) -> None:
    from social.tasks import requeue_stale_events

    settings.SOCIAL_EVENT_MAX_ATTEMPTS = 3
    post_json(Client(), telegram, update(), **signed(telegram))
    tasks.commit()
    tasks.queued.clear()
    long_ago = timezone.now() - dt.timedelta(hours=1)
    InboundEvent.objects.update(attempts=3, last_attempt_at=long_ago)
    assert requeue_stale_events() == 0
    event = InboundEvent.objects.get()
    assert event.status == "failed" and "gave up" in event.error


def test_requeue_schedule_exists(db: None) -> None:
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="social: requeue stale events")
    assert schedule.func == "social.tasks.requeue_stale_events" and schedule.minutes == 1


def test_payload_stored_verbatim(telegram: Channel, tasks: Any) -> None:
    body = json.dumps(update()).encode()
    post_json(Client(), telegram, body, **signed(telegram))
    event = InboundEvent.objects.get()
    assert bytes(event.body) == body
    assert event.headers["x-telegram-bot-api-secret-token"]
