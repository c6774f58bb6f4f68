"""Events reach a partner's receiver after commit, signed, with the record as the API shows it; a partner is
not told about its own changes; every record change (created, updated, deleted, merged) is announced once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Contact, Order, User, WebhookAttempt, WebhookDelivery
from crm.services.merge import contacts_merge
from crm.webhooks.events import EVENTS
from tests.api.webhooks_support import (  # noqa: F401 - fixtures
    PARTNER_SCOPES,
    HookTasks,
    Receiver,
    client_for,
    hooks_fixture,
    olga_fixture,
    receiver_fixture,
    subscribe,
)

CONTACT_EVENTS = ["contact.created", "contact.updated", "contact.deleted", "contact.merged"]


def test_a_change_is_delivered_after_commit_signed_with_the_record_as_the_api_shows_it(
    paul: User, olga: User, receiver: Receiver, hooks: HookTasks
) -> None:
    shop, _ = client_for(paul, PARTNER_SCOPES)
    subscribe(shop, receiver, CONTACT_EVENTS)
    marketing, _ = client_for(olga, ["contacts:write"])

    created = marketing.post(
        "/api/v1/contacts/",
        {"first_name": "Lena", "last_name": "Vogel", "emails": [{"email": "lena@example.com"}], "tags": ["VIP"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert receiver.received == [] and hooks.queued == []  # nothing leaves before the commit

    hooks.run()
    assert receiver.events() == ["contact.created"]  # created once, though the contact was saved with children
    request = receiver.received[0]
    assert request.verified, request.headers  # the partner-side check from the README accepts it
    delivery = WebhookDelivery.objects.get()
    assert request.headers["X-SCRM-Delivery"] == str(delivery.pk)
    assert request.headers["X-SCRM-Event"] == "contact.created"
    assert request.headers["Content-Type"] == "application/json"
    document = request.json()
    assert set(document) == {"id", "event", "created_at", "data"}
    assert document["id"] == delivery.pk and document["event"] == "contact.created"
    assert document["data"] == shop.get(f"/api/v1/contacts/{created.json()['id']}/").json()
    assert delivery.status == "delivered" and delivery.attempts == 1

    attempt = WebhookAttempt.objects.get()
    assert attempt.succeeded and attempt.response_status == 200 and '"ok"' in attempt.response_body
    assert attempt.request_headers["X-SCRM-Event"] == "contact.created" and "Lena" in attempt.request_body
    assert receiver.secret not in str(attempt.request_headers)

    # A tampered body or another secret fails the partner's check.
    from tests.api.webhooks_support import verify_webhook

    assert not verify_webhook(receiver.secret, request.body + b" ", request.headers)
    assert not verify_webhook("whsec_other", request.body, request.headers)


def test_a_partner_is_not_told_about_its_own_changes(
    paul: User, olga: User, receiver: Receiver, hooks: HookTasks
) -> None:
    """Echo suppression: Paul's key writes; Paul's subscription hears nothing, Olga's hears it."""
    shop, _ = client_for(paul, [*PARTNER_SCOPES, "contacts:write"])
    subscribe(shop, receiver, CONTACT_EVENTS)
    marketing, _ = client_for(olga, PARTNER_SCOPES)
    olgas = subscribe(marketing, receiver, CONTACT_EVENTS)

    shop.put("/api/v1/contacts/by-external-id/C-1/", {"first_name": "Lena", "last_name": "Vogel"}, format="json")
    hooks.run()
    assert [(r.json()["event"], _owner(r)) for r in receiver.received] == [("contact.created", olgas["id"])]


def _owner(request: Any) -> int:
    return WebhookDelivery.objects.get(pk=request.json()["id"]).subscription_id


def test_staff_changes_updates_deletes_and_merges_are_announced(
    paul: User,
    ada: User,
    receiver: Receiver,
    hooks: HookTasks,
    login: Callable[[User], Client],
    make_contact: Callable[..., Contact],
) -> None:
    shop, _ = client_for(paul, PARTNER_SCOPES)
    subscribe(shop, receiver, [*CONTACT_EVENTS, "order.created", "order.deleted"])
    lena, twin = make_contact("Lena", "Vogel"), make_contact("Lena", "Vogel")
    hooks.run()
    assert receiver.events() == ["contact.created", "contact.created"]
    receiver.received.clear()

    admin = login(ada)
    response = admin.post(f"/admin/crm/contact/{lena.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    hooks.run()
    assert receiver.events() == ["contact.deleted"]
    data = receiver.received[0].json()["data"]
    assert data["id"] == lena.pk and data["deleted_at"] and data["first_name"] == "Lena"

    receiver.received.clear()
    survivor = make_contact("Lena", "Vogel-Schmidt")
    hooks.run()
    receiver.received.clear()
    contacts_merge(survivor=survivor, others=[twin], actor=ada)
    hooks.run()
    assert sorted(receiver.events()) == ["contact.merged", "contact.updated"]
    merged = next(r.json()["data"] for r in receiver.received if r.json()["event"] == "contact.merged")
    assert merged["id"] == twin.pk and merged["merged_into"] == survivor.pk and merged["deleted_at"]

    # Orders are deleted for good: the event carries the order as it was.
    receiver.received.clear()
    order = Order.objects.create(number="SO-1", contact=survivor, ordered_at=timezone.now())
    hooks.run()
    order.delete()
    hooks.run()
    assert receiver.events() == ["order.created", "order.deleted"]
    assert receiver.received[1].json()["data"]["number"] == "SO-1"


def test_events_not_subscribed_to_and_rolled_back_changes_send_nothing(
    paul: User, receiver: Receiver, hooks: HookTasks, make_contact: Callable[..., Contact]
) -> None:
    from django.db import transaction

    shop, _ = client_for(paul, PARTNER_SCOPES)
    subscribe(shop, receiver, ["order.created"])
    lena = make_contact("Lena", "Vogel")
    try:
        with transaction.atomic():
            Order.objects.create(number="SO-2", contact=lena, ordered_at=timezone.now())
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    hooks.run()
    assert receiver.received == [] and not WebhookDelivery.objects.exists()


def _contact(n: int) -> dict[str, Any]:
    return {
        "external_id": f"erp-{n}",
        "first_name": "Kim",
        "last_name": f"Nr {n}",
        "emails": [{"email": f"kim{n}@example.com"}],
        "phones": [{"number": "+49 30 1234567"}],
        "tags": ["Bulk"],
    }


def _company(n: int) -> dict[str, Any]:
    return {"external_id": f"acme-{n}", "name": f"Acme {n}", "domain": f"acme{n}.example", "tags": ["Bulk"]}


def _interaction(n: int) -> dict[str, Any]:
    return {
        "external_id": f"call-{n}",
        "kind": "call",
        "subject": f"Call {n}",
        "occurred_at": "2026-03-01T10:00:00Z",
        "contact_external_id": "cust-1",
    }


def _order(n: int) -> dict[str, Any]:
    return {
        "number": f"SO-{n}",
        "contact_external_id": "cust-1",
        "ordered_at": "2026-03-01T10:00:00Z",
        "lines": [{"sku": "BAG-030", "quantity": 2}, {"sku": "BAG-030", "quantity": 1, "unit_price": "10.00"}],
    }


@pytest.mark.parametrize(
    ("path", "resource", "record"),
    [
        ("contacts", "contact", _contact),
        ("companies", "company", _company),
        ("interactions", "interaction", _interaction),
        ("orders", "order", _order),
    ],
)
def test_a_bulk_write_reads_its_records_together_and_announces_each_as_the_api_shows_it(
    paul: User,
    olga: User,
    receiver: Receiver,
    hooks: HookTasks,
    make_contact: Any,
    path: str,
    resource: str,
    record: Callable[[int], dict[str, Any]],
) -> None:
    make_contact("Anna", external_id="cust-1")
    shop, _ = client_for(paul, [*PARTNER_SCOPES, "interactions:read", "products:write"])
    product = shop.put("/api/v1/products/by-external-id/BAG-030/", {"name": "Bag", "price": "89"}, format="json")
    assert product.status_code == 201, product.content
    hooks.commit()  # Anna and the product are announced before Paul subscribes
    subscribe(shop, receiver, [event for event in EVENTS if event.startswith(f"{resource}.")])
    writer, _ = client_for(olga, [f"{path}:write"])

    def queries_at_commit(first: int, count: int) -> int:
        records = [record(n) for n in range(first, first + count)]
        response = writer.post(f"/api/v1/{path}/bulk/", {"records": records}, format="json")
        assert response.status_code == 200 and response.json()["created"] == count, response.content
        with CaptureQueriesContext(connection) as captured:
            hooks.commit()  # the on-commit callbacks: one delivery per record for Paul's subscription
        return len(captured.captured_queries)

    few, many = queries_at_commit(0, 5), queries_at_commit(100, 25)
    # Each more record costs its delivery row (and the savepoint around it), not its own read: a contact with
    # its e-mails, phones, consents and tags (eight queries each before), a company with its tags, an order
    # with its lines and their products.
    assert (many - few) / 20 <= 3, (few, many)
    hooks.run()
    assert receiver.events() == [f"{resource}.created"] * 30  # created once, though saved with children
    for request in receiver.received:
        data = request.json()["data"]
        assert data == shop.get(f"/api/v1/{path}/{data['id']}/").json()
