"""A failing endpoint: retries with exponential backoff for at least 24 hours, every attempt logged; a
subscription failing for a day is disabled and its owner e-mailed; administrators redeliver from the admin;
in production a host that starts resolving to a private address (DNS rebinding) is not called."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from crm.models import Contact, User, WebhookAttempt, WebhookDelivery, WebhookSubscription
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


def _retry_times(hooks: HookTasks) -> list[dt.datetime]:
    return [at for _func, _args, at in hooks.scheduled]


def test_a_500_is_retried_and_the_next_200_delivers(
    paul: User, receiver: Receiver, hooks: HookTasks, clock: Clock, make_contact: Callable[..., Contact]
) -> None:
    shop, _ = client_for(paul, PARTNER_SCOPES)
    subscribe(shop, receiver, ["contact.created"])
    receiver.script = [500]
    make_contact("Lena", "Vogel")
    hooks.run()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_status_code == 500
    [retry_at] = _retry_times(hooks)
    assert retry_at == clock.now + dt.timedelta(minutes=1)  # the first retry comes a minute later

    clock.move_to(retry_at)
    hooks.run_scheduled()
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 2
    assert [r.json()["id"] for r in receiver.received] == [delivery.pk, delivery.pk]  # same id: partners dedupe
    assert list(WebhookAttempt.objects.values_list("number", "response_status", "succeeded")) == [
        (1, 500, False),
        (2, 200, True),
    ]
    assert "try later" in WebhookAttempt.objects.get(number=1).response_body
    subscription = WebhookSubscription.objects.get()
    assert subscription.consecutive_failures == 0 and subscription.failing_since is None
    assert subscription.last_success_at == clock.now


def test_backoff_doubles_from_a_minute_to_an_hour_for_a_day_then_fails_and_disables_with_an_email(
    ada: User,
    paul: User,
    receiver: Receiver,
    hooks: HookTasks,
    clock: Clock,
    make_contact: Callable[..., Contact],
) -> None:
    shop, _ = client_for(paul, PARTNER_SCOPES, created_by=ada)
    subscribe(shop, receiver, ["contact.created"])
    receiver.default = 503
    started = clock.now
    make_contact("Lena", "Vogel")
    hooks.run()
    waits = []
    while hooks.scheduled:
        [at] = _retry_times(hooks)
        waits.append((at - clock.now).total_seconds())
        clock.move_to(at)
        hooks.run_scheduled()

    assert waits[:8] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert set(waits[6:]) == {3600}
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == len(waits) + 1 == len(receiver.received)
    assert clock.now - started >= dt.timedelta(hours=24)  # retried for at least a day
    assert clock.now - started < dt.timedelta(hours=25)

    subscription = WebhookSubscription.objects.get()
    assert not subscription.is_active and subscription.disabled_at == clock.now
    assert "24 hours" in subscription.disabled_reason
    [email] = mail.outbox
    assert sorted(email.to) == sorted([paul.email, ada.email])  # the partner account and the key's creator
    assert receiver.url in email.subject and "enable the subscription again" in email.body

    # Disabled: new changes are not delivered; re-enabled by the partner, they are again.
    make_contact("Max", "Muster")
    hooks.run()
    assert WebhookDelivery.objects.count() == 1
    enabled = shop.patch(f"/api/v1/webhook-subscriptions/{subscription.pk}/", {"is_active": True}, format="json")
    assert enabled.json()["is_active"] is True and enabled.json()["consecutive_failures"] == 0
    receiver.default = 200
    make_contact("Eva", "Berg")
    hooks.run()
    assert WebhookDelivery.objects.filter(status="delivered").count() == 1


def test_administrator_redelivers_a_failed_delivery_from_the_admin(
    ada: User,
    paul: User,
    receiver: Receiver,
    hooks: HookTasks,
    settings: Any,
    login: Callable[[User], Client],
    make_contact: Callable[..., Contact],
) -> None:
    settings.WEBHOOK_RETRY_HOURS = 0  # give up after the first failure
    shop, _ = client_for(paul, PARTNER_SCOPES)
    subscribe(shop, receiver, ["contact.created"])
    receiver.script = [404]
    make_contact("Lena", "Vogel")
    hooks.run()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and not hooks.scheduled

    admin = login(ada)
    page = admin.get(f"/admin/crm/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "404" in page and "try later" in page  # the attempt log: status and the answer's body
    response = admin.post(
        "/admin/crm/webhookdelivery/", {"action": "redeliver", "_selected_action": [delivery.pk]}, follow=True
    )
    assert "Sending 1 delivery(ies) again." in response.content.decode()
    hooks.run()
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 2
    assert [r.headers["X-SCRM-Delivery"] for r in receiver.received] == [str(delivery.pk)] * 2
    assert receiver.received[0].body == receiver.received[1].body and receiver.received[1].verified

    # A task that runs twice does nothing the second time.
    from crm.webhooks.tasks import deliver

    assert deliver(delivery.pk, 2) == "skipped" and len(receiver.received) == 2


def test_production_does_not_call_a_host_that_now_resolves_to_a_private_address(
    paul: User,
    receiver: Receiver,
    hooks: HookTasks,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    make_contact: Callable[..., Contact],
) -> None:
    answers = {"hooks.partner.example": "93.184.216.34"}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    settings.PRODUCTION = True
    shop, _ = client_for(paul, PARTNER_SCOPES)
    port = receiver.url.split(":")[2].split("/")[0]
    created = shop.post(
        "/api/v1/webhook-subscriptions/",
        {"url": f"https://hooks.partner.example:{port}/crm", "events": ["contact.created"]},
        format="json",
    )
    assert created.status_code == 201, created.content

    answers["hooks.partner.example"] = "127.0.0.1"  # the partner's DNS now points at our own machine
    make_contact("Lena", "Vogel")
    hooks.run()
    assert receiver.received == []
    attempt = WebhookAttempt.objects.get()
    assert attempt.response_status is None and "private or reserved address (127.0.0.1)" in attempt.error
    assert WebhookDelivery.objects.get().status == "pending" and hooks.scheduled  # retried later, re-checked then


def test_an_attempt_whose_worker_died_is_taken_over_when_the_task_runs_again(
    paul: User, receiver: Receiver, hooks: HookTasks, clock: Clock, make_contact: Callable[..., Contact]
) -> None:
    from crm.webhooks.tasks import deliver

    shop, _ = client_for(paul, PARTNER_SCOPES)
    subscribe(shop, receiver, ["contact.created"])
    make_contact("Lena", "Vogel")
    hooks.commit()
    [(_func, (delivery_id, attempt))] = hooks.queued
    # A worker claimed attempt 1 and died before sending: its lease is all that is left of it.
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        attempts=1, next_attempt_at=clock.now + dt.timedelta(seconds=70)
    )
    assert deliver(delivery_id, attempt) == "skipped"  # the lease still runs: maybe it is only slow
    clock.advance(seconds=71)
    assert deliver(delivery_id, attempt) == "delivered"  # django-q runs the task again; the lease is taken over
    assert deliver(delivery_id, attempt) == "skipped" and len(receiver.received) == 1
