"""The event catalogue and ``webhook_event``, which services (and ``crm.webhooks.signals`` for plain saves)
call when a record changes.

Nothing is sent inside the transaction: each event becomes an on-commit callback (so a rolled-back change,
or savepoint, announces nothing), and at commit it becomes one ``WebhookDelivery`` per interested active
subscription plus a task that sends it. Events of one transaction are collapsed: a record created and then
saved again is one ``*.created``; a record saved several times is one ``*.updated``.

Echo suppression: a change made through a partner API key (``crm.api.origin``) is not delivered to the
subscriptions of that key's account, so a partner is not told about its own writes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from crm.api import origin
from crm.models import WebhookDelivery, WebhookSubscription
from crm.webhooks.queue import deliver_on_commit

logger = logging.getLogger(__name__)

EVENTS: dict[str, str] = {
    "contact.created": "A contact was created",
    "contact.updated": "A contact changed (fields, addresses, phones, consents, tags, or it was restored)",
    "contact.deleted": "A contact was deleted (it is kept as a tombstone)",
    "contact.merged": "A contact was merged into another (data.merged_into)",
    "company.created": "A company was created",
    "company.updated": "A company changed",
    "company.deleted": "A company was deleted",
    "company.merged": "A company was merged into another (data.merged_into)",
    "interaction.created": "An interaction (call, e-mail, meeting, note, task) was logged",
    "interaction.updated": "An interaction changed",
    "interaction.deleted": "An interaction was deleted",
    "order.created": "An order was created",
    "order.updated": "An order changed (status, lines, total)",
    "order.deleted": "An order was deleted",
}

Serializer = Callable[[int], dict[str, Any] | None]
# Many records at once (a bulk write announces hundreds): id -> the record as ``Serializer`` gives it; a record
# left out goes through ``Serializer`` on its own.
SerializeMany = Callable[[list[int]], dict[int, dict[str, Any]]]


@dataclass(frozen=True)
class Resource:
    name: str  # "contact": events are "<name>.<action>"
    serialize: Serializer  # the record as the API shows it, or None when it no longer exists
    scope: str  # the API scope resource ("contacts") a key needs (read) to subscribe to its events
    serialize_many: SerializeMany | None = None


# Model label ("crm.contact") -> resource. crm registers its own (crm.webhooks.payloads); other apps add theirs.
RESOURCES: dict[str, Resource] = {}


def register_webhook_resource(
    model_label: str,
    name: str,
    serialize: Serializer,
    *,
    scope: str,
    events: dict[str, str] | None = None,
    serialize_many: SerializeMany | None = None,
) -> None:
    """Let ``model_label``'s changes be announced as ``<name>.<action>``; ``events`` adds to the catalogue."""
    RESOURCES[model_label.lower()] = Resource(name, serialize, scope, serialize_many)
    EVENTS.update(events or {})


def event_scope(event: str) -> str | None:
    """The scope resource whose read access an API key needs to receive ``event``."""
    name = event.split(".", 1)[0]
    return next((r.scope for r in RESOURCES.values() if r.name == name), None)


def webhook_event(*, record: Model, action: str, snapshot: dict[str, Any] | None = None, **extra: Any) -> None:
    """Announce ``<resource>.<action>`` about ``record`` after commit (a no-op for models without webhooks).

    ``snapshot``: the record's data taken now (for a row that will be gone at commit); otherwise it is
    serialized at commit. ``extra`` keys are added to ``data`` (e.g. ``merged_into``)."""
    resource = RESOURCES.get(record._meta.concrete_model._meta.label_lower)  # type: ignore[union-attr]
    if resource is None or f"{resource.name}.{action}" not in EVENTS:
        return
    key = origin.current_api_key()
    pending = _Pending(
        event=f"{resource.name}.{action}",
        resource=resource,
        pk=int(record.pk),
        origin_account=key.user_id if key else None,
        snapshot=snapshot,
        extra=extra,
    )
    batch = _current_batch()
    if snapshot is None and resource.serialize_many is not None:
        batch.expected[resource.name].add(pending.pk)
    transaction.on_commit(partial(batch.deliver, pending), robust=True)


def has_subscribers() -> bool:
    """Whether any subscription is active (spares taking snapshots nobody would receive)."""
    return WebhookSubscription.objects.filter(is_active=True).exists()


@dataclass
class _Pending:
    event: str
    resource: Resource
    pk: int
    origin_account: int | None
    snapshot: dict[str, Any] | None
    extra: dict[str, Any]


@dataclass
class _Batch:
    """The events of one transaction, delivered in order at commit. ``started`` turns true at the first
    callback (commit time); a batch whose transaction rolled back never starts and holds no state."""

    started: bool = False
    written: set[tuple[str, int]] = field(default_factory=set)
    subscriptions: list[WebhookSubscription] | None = None
    # Records announced without a snapshot, by resource: the ones a resource can serialize together are read
    # at the first of their events that someone receives (a record's events in a savepoint that was rolled
    # back are read too, and not sent: only their callbacks are gone).
    expected: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    serialized: dict[tuple[str, int], dict[str, Any] | None] = field(default_factory=dict)

    def deliver(self, pending: _Pending) -> None:
        self.started = True
        action = pending.event.rsplit(".", 1)[1]
        key = (pending.resource.name, pending.pk)
        if action == "updated" and key in self.written:
            return
        if action in ("created", "updated"):
            self.written.add(key)
        if self.subscriptions is None:
            # One query per transaction, however many records it changed.
            self.subscriptions = list(WebhookSubscription.objects.filter(is_active=True).only("id", "owner", "events"))
        targets = [s for s in self.subscriptions if pending.event in s.events and s.owner_id != pending.origin_account]
        if not targets:
            return
        data = pending.snapshot if pending.snapshot is not None else self._data(pending)
        if data is None:
            return  # created in a savepoint that was rolled back
        data = {**json.loads(JSONRenderer().render(data)), **json.loads(JSONRenderer().render(pending.extra))}
        deliveries_create(event=pending.event, object_id=pending.pk, data=data, subscriptions=targets)

    def _data(self, pending: _Pending) -> dict[str, Any] | None:
        resource = pending.resource
        key = (resource.name, pending.pk)
        if resource.serialize_many is not None and key not in self.serialized:
            ids = sorted(self.expected.pop(resource.name, set()) | {pending.pk})
            found = resource.serialize_many(ids)
            self.serialized.update({(resource.name, pk): found.get(pk) for pk in ids})
        data = self.serialized.get(key)
        return data if data is not None else resource.serialize(pending.pk)


def deliveries_create(
    *, event: str, object_id: int, data: dict[str, Any], subscriptions: list[WebhookSubscription]
) -> list[WebhookDelivery]:
    """One delivery per subscription, each handed to the task queue once they are committed."""
    now = timezone.now()
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                subscription_id=s.pk,
                event=event,
                object_id=object_id,
                payload=data,
                retry_from=now,
                next_attempt_at=now,
            )
            for s in subscriptions
        )
        for delivery in deliveries:
            deliver_on_commit(delivery.pk, 1)
    return deliveries


_local = threading.local()


def _current_batch() -> _Batch:
    batch: _Batch | None = getattr(_local, "batch", None)
    if batch is None or batch.started:
        batch = _local.batch = _Batch()
    return batch
