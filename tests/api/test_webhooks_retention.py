"""Retention of the delivery log: a daily task deletes finished deliveries (delivered, or given up) with their
attempts once untouched for WEBHOOK_LOG_RETENTION_DAYS, in bounded chunks; deliveries still being retried stay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from crm.models import Contact, User, WebhookAttempt, WebhookDelivery
from crm.webhooks.retention import deliveries_purge
from crm.webhooks.tasks import purge_deliveries
from tests.api.webhooks_support import (  # noqa: F401 - fixtures
    PARTNER_SCOPES,
    Clock,
    HookTasks,
    Receiver,
    client_for,
    clock_fixture,
    hooks_fixture,
    receiver_fixture,
    subscribe,
)
from tests.helpers.schedules import assert_daily_schedule, assert_schedule_migration_reversible


def delivery_of(contact: Contact) -> WebhookDelivery:
    return WebhookDelivery.objects.get(object_id=contact.pk)


def test_old_finished_deliveries_go_with_their_attempts_pending_and_recent_ones_stay(
    paul: User,
    receiver: Receiver,
    hooks: HookTasks,
    clock: Clock,
    settings: Any,
    make_contact: Callable[..., Contact],
) -> None:
    shop, _ = client_for(paul, PARTNER_SCOPES)
    subscribe(shop, receiver, ["contact.created"])
    delivered = make_contact("Lena", "Vogel")
    hooks.run()
    receiver.script = [500]
    retrying = make_contact("Tom", "Baker")  # fails once, a retry is scheduled (and never runs in this test)
    hooks.run()
    settings.WEBHOOK_RETRY_HOURS = 0  # the next failure is final
    receiver.script = [500]
    given_up = make_contact("Ines", "Kahn")
    hooks.run()
    assert [delivery_of(c).status for c in (delivered, retrying, given_up)] == ["delivered", "pending", "failed"]

    clock.advance(days=31)
    recent = make_contact("Maja", "Roth")
    hooks.run()
    assert delivery_of(recent).status == "delivered"

    assert purge_deliveries() == 2
    kept = set(WebhookDelivery.objects.values_list("object_id", flat=True))
    assert kept == {retrying.pk, recent.pk}
    assert set(WebhookAttempt.objects.values_list("delivery__object_id", flat=True)) == kept
    assert purge_deliveries() == 0  # safe to run twice


def test_a_delivery_redelivered_recently_stays(
    ada: User,
    paul: User,
    receiver: Receiver,
    hooks: HookTasks,
    clock: Clock,
    settings: Any,
    login: Callable[[User], Client],
    make_contact: Callable[..., Contact],
) -> None:
    settings.WEBHOOK_RETRY_HOURS = 0
    shop, _ = client_for(paul, PARTNER_SCOPES)
    subscribe(shop, receiver, ["contact.created"])
    receiver.script = [404]
    contact = make_contact("Lena", "Vogel")
    hooks.run()
    assert delivery_of(contact).status == "failed"

    clock.advance(days=40)
    login(ada).post(
        "/admin/crm/webhookdelivery/", {"action": "redeliver", "_selected_action": [delivery_of(contact).pk]}
    )
    hooks.run()
    assert delivery_of(contact).status == "delivered"
    assert purge_deliveries() == 0
    assert WebhookAttempt.objects.filter(delivery__object_id=contact.pk).count() == 2

    clock.advance(days=31)
    assert purge_deliveries() == 1 and not WebhookAttempt.objects.exists()


def test_retention_days_are_configurable(
    paul: User,
    receiver: Receiver,
    hooks: HookTasks,
    clock: Clock,
    settings: Any,
    make_contact: Callable[..., Contact],
) -> None:
    settings.WEBHOOK_LOG_RETENTION_DAYS = 7
    shop, _ = client_for(paul, PARTNER_SCOPES)
    subscribe(shop, receiver, ["contact.created"])
    make_contact("Lena", "Vogel")
    hooks.run()
    clock.advance(days=2)
    newer = make_contact("Tom", "Baker")
    hooks.run()
    clock.advance(days=6)  # 8 and 6 days old
    assert purge_deliveries() == 1
    assert list(WebhookDelivery.objects.values_list("object_id", flat=True)) == [newer.pk]


def test_a_large_backlog_is_deleted_in_bounded_chunks(
    paul: User, receiver: Receiver, hooks: HookTasks, clock: Clock, make_contact: Callable[..., Contact]
) -> None:
    shop, _ = client_for(paul, PARTNER_SCOPES)
    subscribe(shop, receiver, ["contact.created"])
    for n in range(5):
        make_contact("Lena", f"Vogel {n}")
    hooks.run()
    clock.advance(days=31)
    recent = make_contact("Tom", "Baker")
    hooks.run()

    with CaptureQueriesContext(connection) as queries:
        assert deliveries_purge(chunk_size=2) == 5
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "crm_webhookdelivery"')]
    assert len(deletes) == 3  # 2 + 2 + 1 deliveries, one statement each
    assert list(WebhookDelivery.objects.values_list("object_id", flat=True)) == [recent.pk]
    assert WebhookAttempt.objects.count() == 1


def test_the_daily_purge_is_scheduled(db: None) -> None:
    assert_daily_schedule("crm: purge old webhook deliveries", "crm.webhooks.tasks.purge_deliveries")


def test_the_schedule_migration_is_idempotent_and_reversible(db: None) -> None:
    assert_schedule_migration_reversible(
        "crm.migrations.0010_webhook_log_retention_schedule", "crm.webhooks.tasks.purge_deliveries"
    )
