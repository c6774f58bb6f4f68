"""Retention of stored webhooks: a daily task deletes processed and ignored events older than
SOCIAL_EVENT_RETENTION_DAYS, in bounded chunks; pending and failed events are never deleted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from social.models import Channel, InboundEvent, Message
from social.services.inbound_retention import inbound_events_purge
from social.tasks import purge_inbound_events, requeue_stale_events
from tests.helpers.schedules import assert_daily_schedule, assert_schedule_migration_reversible
from tests.social.conftest import TELEGRAM_TOKEN, post_json
from tests.social.test_telegram import update


@pytest.fixture
def telegram(make_channel: Any) -> Channel:
    return make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)


def receive(channel: Channel, payload: dict[str, Any]) -> None:
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": channel.secret("webhook_secret")}
    assert post_json(Client(), channel, payload, **headers).status_code == 200


def age(update_id: int, days: float) -> None:
    """Pretend the update was received ``days`` ago."""
    received_at = timezone.now() - dt.timedelta(days=days)
    assert InboundEvent.objects.filter(provider_event_id=f"update:{update_id}").update(received_at=received_at)


def statuses() -> dict[str, str]:
    return dict(InboundEvent.objects.values_list("provider_event_id", "status"))


def test_old_processed_and_ignored_events_go_pending_failed_and_recent_ones_stay(
    telegram: Channel, tasks: Any, settings: Any
) -> None:
    receive(telegram, update(update_id=1, message_id=1))  # processed
    receive(telegram, {"update_id": 2, "edited_message": update()["message"]})  # ignored (unsupported)
    receive(telegram, update(update_id=3, message_id=3))  # processed, but recent
    tasks.run()
    settings.SOCIAL_EVENT_MAX_ATTEMPTS = 1
    receive(telegram, update(update_id=4, message_id=4))  # its worker dies once too often: failed
    tasks.commit()
    tasks.queued.clear()
    InboundEvent.objects.filter(provider_event_id="update:4").update(
        attempts=1, last_attempt_at=timezone.now() - dt.timedelta(hours=1)
    )
    requeue_stale_events()
    receive(telegram, update(update_id=5, message_id=5))  # still pending (no worker ran)
    tasks.commit()
    tasks.queued.clear()
    assert statuses() == {
        "update:1": "processed",
        "update:2": "ignored",
        "update:3": "processed",
        "update:4": "failed",
        "update:5": "pending",
    }
    for update_id in (1, 2, 4, 5):
        age(update_id, days=31)
    age(3, days=29)
    messages = Message.objects.count()

    assert purge_inbound_events() == 2
    assert statuses() == {"update:3": "processed", "update:4": "failed", "update:5": "pending"}
    assert Message.objects.count() == messages  # the conversation keeps its messages
    assert purge_inbound_events() == 0  # safe to run twice


def test_a_purged_update_delivered_again_makes_no_second_message(telegram: Channel, tasks: Any) -> None:
    receive(telegram, update(update_id=1, message_id=1))
    tasks.run()
    age(1, days=31)
    assert purge_inbound_events() == 1 and not InboundEvent.objects.exists()

    receive(telegram, update(update_id=1, message_id=1))
    tasks.run()
    assert statuses() == {"update:1": "processed"}  # stored and processed again …
    assert Message.objects.count() == 1  # … but its message is known already


def test_retention_days_come_from_the_environment(
    telegram: Channel, tasks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIAL_EVENT_RETENTION_DAYS", "7")
    for update_id in (1, 2):
        receive(telegram, update(update_id=update_id, message_id=update_id))
    tasks.run()
    age(1, days=8)
    age(2, days=6)
    assert purge_inbound_events() == 1
    assert list(statuses()) == ["update:2"]


def test_a_large_backlog_is_deleted_in_bounded_chunks(telegram: Channel, tasks: Any) -> None:
    for update_id in range(1, 8):
        receive(telegram, update(update_id=update_id, message_id=update_id))
    tasks.run()
    for update_id in range(1, 8):
        age(update_id, days=40)
    receive(telegram, update(update_id=8, message_id=8))
    tasks.run()

    with CaptureQueriesContext(connection) as queries:
        assert inbound_events_purge(chunk_size=3) == 7
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 3 + 3 + 1 rows, one statement each
    assert list(statuses()) == ["update:8"]


def test_the_daily_purge_is_scheduled(db: None) -> None:
    assert_daily_schedule("social: purge old inbound events", "social.tasks.purge_inbound_events")


def test_the_schedule_migration_is_idempotent_and_reversible(db: None) -> None:
    assert_schedule_migration_reversible(
        "social.migrations.0007_inbound_event_retention_schedule", "social.tasks.purge_inbound_events"
    )
