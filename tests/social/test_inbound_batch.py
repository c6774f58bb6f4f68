"""The inbound drain: batches give what one event at a time gives; requests coalesce; claims never overlap.

The equivalence test runs one scenario twice, one event at a time (``inbound_event_process``) and as one
batch (``inbound_events_process``), each inside a savepoint rolled back after its snapshot, and compares
what a user would see: events' statuses, contacts with their addresses, identities, conversations,
messages, the audit trail and the routing work queued.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.db import transaction
from django.utils import timezone

from crm.models import Contact, ContactPhone
from social.connectors.base import WebhookRequest
from social.models import Channel, Conversation, Identity, InboundEvent, Message
from social.services import inbound_batch, inbound_drain
from social.services.inbound import inbound_event_process, inbound_event_store, inbound_events_requeue_stale
from social.services.inbound_batch import inbound_events_process
from social.services.inbound_drain import inbound_events_claim, inbound_events_drain
from tests.social.conftest import TELEGRAM_TOKEN, post_json

pytestmark = pytest.mark.django_db

DRAIN = "social.tasks.drain_inbound_events"
SCENARIO_NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)  # the same in both runs (it is in the audit trail)


def tg_update(update_id: int, chat: int, message_id: int, text: str, **extra: Any) -> dict[str, Any]:
    first, _, last = extra.pop("name", f"User {chat}").partition(" ")
    message = {
        "message_id": message_id,
        "from": {"id": chat, "is_bot": False, "first_name": first, "last_name": last, "username": f"u{chat}"},
        "chat": {"id": chat, "type": "private"},
        "date": 1_700_000_000 + update_id,
        "text": text,
        **extra,
    }
    return {"update_id": update_id, "message": message}


def store(channel: Channel, update_id: int, body: dict[str, Any] | bytes) -> int:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    event_id, _ = inbound_event_store(
        channel=channel, request=WebhookRequest(body=raw, headers={}), provider_event_id=f"update:{update_id}"
    )
    return event_id


@pytest.fixture
def channel(make_channel: Any) -> Channel:
    return make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)


def scenario(channel: Channel) -> list[int]:
    """Existing customers in several states, new senders (one writing three times), a shared phone number
    that belongs to a known contact, repeats, an unsupported update and an unreadable body."""
    now = SCENARIO_NOW
    known = Contact.objects.create(first_name="Known", last_name="Customer")
    ContactPhone.objects.create(contact=known, number="+4915112345678", is_primary=True)

    def existing(chat: int, status: str, **fields: Any) -> None:
        contact = Contact.objects.create(first_name=f"Existing{chat}")
        identity = Identity.objects.create(channel=channel, external_id=str(chat), contact=contact, handle="old")
        Conversation.objects.create(channel=channel, contact=contact, identity=identity, status=status, **fields)

    existing(500, Conversation.Status.RESOLVED, resolved_at=now)
    existing(501, Conversation.Status.SNOOZED, snoozed_until=now + dt.timedelta(days=1))
    existing(502, Conversation.Status.OPEN)
    shared = {"contact": {"phone_number": "+49 151 12345678", "user_id": 700}}
    bodies: list[dict[str, Any] | bytes] = [
        tg_update(1, 600, 1, "Hello, my invoice is wrong"),
        tg_update(2, 500, 1, "Back again: it broke once more, terrible"),
        tg_update(3, 601, 1, "Hola, ¿tienen este producto en azul?", name="Ana García"),
        tg_update(4, 600, 2, "Any news?"),
        tg_update(5, 501, 1, "Waking you up"),
        tg_update(6, 600, 1, "Hello, my invoice is wrong"),  # the same message again under another update
        {"update_id": 7, "edited_message": {"message_id": 1, "chat": {"id": 600}}},  # unsupported: ignored
        b"{not json",  # unreadable: this event fails alone
        tg_update(9, 700, 1, "Here is my number", name="Phone Sharer", **shared),  # links to Known Customer
        tg_update(10, 502, 1, "Still waiting", name="Renamed Person"),  # a profile change on a known identity
        tg_update(11, 600, 3, "Thanks, all good now!"),
    ]
    return [store(channel, n, body) for n, body in enumerate(bodies, start=1)]


def snapshot(channel: Channel) -> dict[str, Any]:
    def name(contact_id: int | None) -> str:
        contact = Contact.objects.get(pk=contact_id)
        return f"{contact.first_name} {contact.last_name}".strip()

    return {
        "events": [
            (e.provider_event_id, e.status, e.error.split(":")[0], e.attempts)
            for e in InboundEvent.objects.filter(channel=channel).order_by("pk")
        ],
        "contacts": sorted(
            (c.first_name, c.last_name, c.source, c.search_name, tuple(c.phones.values_list("number", flat=True)))
            for c in Contact.objects.all()
        ),
        "identities": sorted(
            (i.external_id, name(i.contact_id), i.display_name, i.handle, i.phone, i.last_seen_at is not None)
            for i in Identity.objects.filter(channel=channel)
        ),
        "conversations": sorted(
            (name(c.contact_id), c.status, c.snoozed_until, c.resolved_at, c.last_inbound_at, c.messages.count())
            for c in Conversation.objects.filter(channel=channel)
        ),
        "messages": [
            (m.provider_message_id, name(m.sender_contact_id), m.text, m.language, m.sentiment, m.status, m.sent_at)
            for m in Message.objects.filter(channel=channel).order_by("provider_message_id")
        ],
        "audit": Counter(
            (e.content_type.model, e.action, _changes(e) if e.action == LogEntry.Action.CREATE else "")
            for e in LogEntry.objects.select_related("content_type")
        ),
    }


def _changes(entry: LogEntry) -> str:
    """A creation's recorded values without the row ids (the two runs get different ids)."""
    changes = entry.changes if isinstance(entry.changes, dict) else json.loads(entry.changes or "{}")
    return json.dumps({k: v for k, v in changes.items() if k not in {"id", "contact", "identity"}}, sort_keys=True)


class Rollback(Exception):
    pass


def run_and_snapshot(channel: Channel, tasks: Any, process: Any) -> tuple[dict[str, Any], list[int]]:
    result: dict[str, Any] = {}
    routed: list[int] = []
    try:
        with transaction.atomic():
            ids = scenario(channel)
            tasks.commit()
            tasks.queued.clear()  # the drain requested by the stores
            process(ids)
            tasks.commit()
            routed = [pk for func, args in tasks.queued if func == "routing.tasks.route_messages" for pk in args]
            routed = list(Message.objects.filter(pk__in=routed).order_by("pk").values_list("provider_message_id"))
            tasks.queued.clear()
            result = snapshot(channel)
            raise Rollback
    except Rollback:
        pass
    return result, routed


def test_a_batch_gives_what_one_event_at_a_time_gives(channel: Channel, tasks: Any) -> None:
    def one_by_one(ids: list[int]) -> None:
        for event_id in ids:
            inbound_event_process(event_id=event_id)

    def as_batch(ids: list[int]) -> None:
        InboundEvent.objects.filter(pk__in=ids).update(attempts=1)  # what the drain's claim counts
        inbound_events_process(event_ids=ids)

    single, single_routed = run_and_snapshot(channel, tasks, one_by_one)
    batch, batch_routed = run_and_snapshot(channel, tasks, as_batch)
    assert batch["events"] == single["events"]
    assert batch["contacts"] == single["contacts"]
    assert batch["identities"] == single["identities"]
    assert batch["conversations"] == single["conversations"]
    assert batch["messages"] == single["messages"]
    assert batch["audit"] == single["audit"]
    assert batch_routed == single_routed
    # And the scenario says what it should: spot checks a user would make.
    statuses = {e[0]: e[1] for e in batch["events"]}
    assert (statuses["update:6"], statuses["update:7"], statuses["update:8"]) == ("processed", "ignored", "failed")
    assert len([m for m in batch["messages"] if m[0] == "600:1"]) == 1
    assert ("700", "Known Customer", "Phone Sharer", "u700", "+4915112345678", True) in batch["identities"]
    assert any(c[0] == "Existing500" and c[1] == "open" and c[3] is None for c in batch["conversations"])
    assert not any(c[1] == "snoozed" for c in batch["conversations"])
    assert any(i[0] == "502" and i[2] == "Renamed Person" for i in batch["identities"])
    assert len(batch_routed) == 8  # every new customer message, once


def test_webhooks_in_a_burst_request_one_drain(channel: Channel, tasks: Any, client: Any) -> None:
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": channel.secret("webhook_secret")}
    for n in range(1, 6):
        assert post_json(client, channel, tg_update(n, 600 + n, 1, "hi"), **headers).status_code == 200
    tasks.commit()
    assert tasks.queued == [(DRAIN, ())]
    tasks.run()
    assert Message.objects.count() == 5
    assert set(InboundEvent.objects.values_list("status", "attempts")) == {("processed", 1)}
    # The drain cleared the request: the next webhook asks for a new one.
    assert post_json(client, channel, tg_update(9, 699, 1, "again"), **headers).status_code == 200
    tasks.commit()
    assert tasks.queued == [(DRAIN, ())]


def test_a_full_batch_asks_for_another_drain_and_claims_never_overlap(
    channel: Channel, tasks: Any, settings: Any
) -> None:
    settings.SOCIAL_DRAIN_BATCH = 2
    ids = [store(channel, n, tg_update(n, 600, n, f"message {n}")) for n in range(1, 6)]
    tasks.commit()
    tasks.queued.clear()
    first = inbound_events_claim(limit=2)
    second = inbound_events_claim(limit=2)
    assert first == ids[:2] and second == ids[2:4]  # oldest first; a claimed event is not claimed again
    assert set(InboundEvent.objects.filter(pk__in=first).values_list("attempts", flat=True)) == {1}
    InboundEvent.objects.filter(pk__in=ids).update(attempts=0, last_attempt_at=None)  # release the leases

    assert inbound_events_drain() == 5
    tasks.commit()
    assert [func for func, _ in tasks.queued].count(DRAIN) == 1  # asked once, on the first full batch
    assert list(Message.objects.order_by("sent_at").values_list("text", flat=True)) == [
        f"message {n}" for n in range(1, 6)
    ]


def test_a_lease_ends_and_the_event_is_claimed_again(channel: Channel, tasks: Any, settings: Any) -> None:
    settings.SOCIAL_EVENT_STALE_SECONDS = 60
    event_id = store(channel, 1, tg_update(1, 600, 1, "hello"))
    tasks.commit()
    tasks.queued.clear()  # that drain request is lost with the worker too
    assert inbound_events_claim(limit=10) == [event_id]  # then the worker dies
    assert inbound_events_claim(limit=10) == []  # its lease holds
    InboundEvent.objects.filter(pk=event_id).update(last_attempt_at=timezone.now() - dt.timedelta(seconds=61))
    assert inbound_events_requeue_stale() == 1  # the minute sweep asks for a drain
    tasks.commit()
    assert tasks.queued == [(DRAIN, ())]
    tasks.run()
    event = InboundEvent.objects.get()
    assert (event.status, event.attempts) == ("processed", 2)
    assert Message.objects.count() == 1


def test_a_failing_batch_falls_back_to_one_event_at_a_time(
    channel: Channel, tasks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [store(channel, n, tg_update(n, 600 + n, 1, f"message {n}")) for n in range(1, 4)]
    tasks.commit()
    tasks.queued.clear()
    broken = ids[1]

    real = inbound_batch.inbound_events_process

    def failing(*, event_ids: Any) -> Any:
        with transaction.atomic():  # fails after writing: everything the batch wrote must roll back
            real(event_ids=event_ids)
            raise RuntimeError("disk full")

    monkeypatch.setattr(inbound_drain, "inbound_events_process", failing)

    def apply_or_fail(channel_: Channel, item: Any) -> bool:
        if item.provider_message_id == f"{600 + 2}:1":
            raise RuntimeError("this one is broken")
        from social.services.inbound import _store_message

        _store_message(channel_, item)
        return True

    monkeypatch.setattr("social.services.inbound.inbound_item_apply", apply_or_fail)
    assert inbound_events_drain() == 3
    statuses = dict(InboundEvent.objects.values_list("pk", "status"))
    assert statuses == {ids[0]: "processed", broken: "pending", ids[2]: "processed"}  # retried later
    assert "this one is broken" in InboundEvent.objects.get(pk=broken).error
    assert sorted(Message.objects.values_list("text", flat=True)) == ["message 1", "message 3"]
    assert InboundEvent.objects.get(pk=ids[0]).attempts == 1  # the fallback counts no second attempt


def test_an_event_stored_during_the_closing_grace_is_claimed(
    channel: Channel, tasks: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook that saw a drain request pending moments ago asks for none: the pending drain, after its
    last empty claim, waits out the grace and claims once more, so the event does not wait for the sweep.

    The clock stands still except while the drain sleeps: on a slow machine, processing the first event can
    take longer than the grace itself, and the drain would then (rightly) make its last claim at once."""
    from types import SimpleNamespace

    from social.services import queue

    settings.SOCIAL_DRAIN_GRACE_MS = 50
    store(channel, 1, tg_update(1, 600, 1, "first"))
    tasks.commit()
    tasks.queued.clear()
    waits: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        if not waits:  # the drain found nothing more; now a webhook stores an event and asks for nothing
            store(channel, 2, tg_update(2, 601, 1, "arrived during the grace"))
            tasks.queued.clear()
        waits.append(seconds)
        now[0] += seconds

    clock = SimpleNamespace(monotonic=lambda: now[0], sleep=sleep)
    monkeypatch.setattr(inbound_drain, "time", clock)
    monkeypatch.setattr(queue, "time", clock)
    assert inbound_events_drain() == 2
    assert waits == [0.05]  # counted from the clear, then no second wait: the grace is over
    assert sorted(Message.objects.values_list("text", flat=True)) == ["arrived during the grace", "first"]
