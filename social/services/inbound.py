"""Inbound webhooks: store the raw request durably, then process it (idempotently) in a task.

1. ``inbound_event_store`` (the webhook view): one row per delivery, unique on (channel, provider event
   id), committed before the provider gets its 2xx; a drain is requested on commit.
2. The drain (``social.services.inbound_drain``) claims pending events in batches and processes them
   set-based (``social.services.inbound_batch``); ``inbound_event_process`` is the one-event path (a
   batch that fails falls back to it): it counts the attempt in its own transaction, then, holding the
   event's row lock, parses the stored body and applies each normalised event; a processed event is
   never processed again. Messages are unique on (channel, provider message id), so a delivery that
   reaches us twice under different event ids still stores one message.
3. ``inbound_events_requeue_stale`` (scheduled): a drain is requested for events left pending by a
   worker that died; they are given up (failed) after ``SOCIAL_EVENT_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from social import conf, hooks
from social.connectors import connector_for
from social.connectors.base import (
    InboundMessage,
    MalformedPayload,
    NormalisedEvent,
    PublicComment,
    StatusUpdate,
    WebhookRequest,
)
from social.listening.comments import comment_receive
from social.models import Channel, Conversation, Identity, InboundEvent, Message
from social.services.analysis import text_analyse
from social.services.conversations import conversation_for_inbound
from social.services.identities import identity_resolve
from social.services.outbound import message_status_apply
from social.services.queue import DRAIN_FLAG_SECONDS, drain_request_on_commit

logger = logging.getLogger(__name__)

# Headers kept with the raw body: what processing or a person debugging a delivery may need.
STORED_HEADERS = (
    "content-type",
    "user-agent",
    "x-hub-signature-256",
    "x-twilio-signature",
    "x-telegram-bot-api-secret-token",
    "x-scrm-signature",
    "x-scrm-timestamp",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
)


def inbound_event_store(*, channel: Channel, request: WebhookRequest, provider_event_id: str) -> tuple[int, bool]:
    """Store a verified webhook delivery; returns (the event's id, created). A redelivery returns the stored
    one's id.

    One statement, ``INSERT … ON CONFLICT DO NOTHING RETURNING id``: outside a transaction (the webhook view)
    it commits on its own, one round trip, the least a durable acknowledgement costs; inside one it leaves
    the caller's transaction usable when the event is a repeat. Written by hand because the webhook is the
    hottest path: the ORM's ``save()`` building the statement was a fifth of the webhook's CPU time
    (bench/webhook_ingest.py). Then a drain is requested (``inbound_drain``).
    """
    provider_event_id = provider_event_id[:255]
    content_type = request.header("content-type")[:200]
    headers = {name: request.headers[name] for name in STORED_HEADERS if name in request.headers}
    values: list[Any] = [channel.pk, provider_event_id, request.body, content_type, json.dumps(headers)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the JSON cast and the time taken by the database
            cursor.execute(_INSERT_EVENT_POSTGRESQL, values)
        else:
            values.append(connection.ops.adapt_datetimefield_value(timezone.now()))
            cursor.execute(_INSERT_EVENT_OTHER, values)
        row = cursor.fetchone()
    if row is None:  # stored before: a redelivery, or a racing one
        stored = InboundEvent.objects.filter(channel=channel, provider_event_id=provider_event_id)
        return stored.values_list("pk", flat=True).get(), False
    drain_request_on_commit()
    return row[0], True


_INSERT_EVENT = (
    f"INSERT INTO {InboundEvent._meta.db_table} "  # noqa: S608 - the model's table, values are parameters
    "(channel_id, provider_event_id, body, content_type, headers, received_at, status, attempts, error) "
    f"VALUES (%s, %s, %s, %s, {{headers}}, {{received_at}}, '{InboundEvent.Status.PENDING.value}', 0, '') "
    "ON CONFLICT (channel_id, provider_event_id) DO NOTHING RETURNING id"  # social_event_unique_...
)
_INSERT_EVENT_POSTGRESQL = _INSERT_EVENT.format(headers="%s::jsonb", received_at="now()")
_INSERT_EVENT_OTHER = _INSERT_EVENT.format(headers="%s", received_at="%s")


def inbound_event_process(*, event_id: int) -> str:
    """Apply one stored event once; returns its final status (or the status it already had).

    The drain (``inbound_drain``) processes events in batches; this is the one-event path it falls back
    to when a batch fails (and ``social.tasks.process_inbound_event``, kept for tasks queued before the
    drain existed)."""
    with transaction.atomic():
        # Counted in its own transaction: a worker killed during step 2 still leaves the attempt behind.
        claimed = InboundEvent.objects.filter(pk=event_id, status=InboundEvent.Status.PENDING).update(
            attempts=F("attempts") + 1, last_attempt_at=timezone.now()
        )
    if not claimed:
        return str(InboundEvent.objects.filter(pk=event_id).values_list("status", flat=True).first() or "missing")
    return inbound_event_process_claimed(event_id=event_id)


def inbound_event_process_claimed(*, event_id: int) -> str:
    """Step 2 for an event whose attempt is already counted: parse and apply it under its row lock."""
    try:
        with transaction.atomic():
            event = InboundEvent.objects.select_for_update().get(pk=event_id)
            if event.status != InboundEvent.Status.PENDING:
                return event.status  # another worker finished it while we waited for the lock
            channel = Channel.objects.get(pk=event.channel_id)
            applied = [inbound_item_apply(channel, item) for item in inbound_event_parse(channel, event)]
            event.status = InboundEvent.Status.PROCESSED if any(applied) else InboundEvent.Status.IGNORED
            event.processed_at = timezone.now()
            event.error = ""
            event.save(update_fields=["status", "processed_at", "error"])
            return event.status
    except Exception as exc:
        logger.exception("inbound event %s failed", event_id)
        return inbound_event_failure_record(
            event_id=event_id, error=f"{type(exc).__name__}: {exc}", final=isinstance(exc, MalformedPayload)
        )


def inbound_event_parse(channel: Channel, event: InboundEvent) -> list[NormalisedEvent]:
    """The normalised events of a stored delivery; ``MalformedPayload`` when it cannot be read."""
    connector = connector_for(channel.kind)
    if connector is None:
        raise MalformedPayload(f"no connector for {channel.kind}")
    return connector.parse(channel, WebhookRequest(body=bytes(event.body), headers=dict(event.headers))).events


def inbound_event_failure_record(*, event_id: int, error: str, final: bool) -> str:
    """Keep ``error`` on the event; it fails for good when ``final`` or out of attempts, else stays pending."""
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update().get(pk=event_id)
        event.error = error[:2000]
        if final or event.attempts >= conf.event_max_attempts():
            event.status = InboundEvent.Status.FAILED
        event.save(update_fields=["error", "status"])
        return event.status


def inbound_item_apply(channel: Channel, item: NormalisedEvent) -> bool:
    """Apply one normalised event; False when it is of a kind nothing is done with."""
    if isinstance(item, InboundMessage):
        _store_message(channel, item)
        return True
    if isinstance(item, StatusUpdate):
        message_status_apply(channel=channel, update=item)
        return True
    if isinstance(item, PublicComment):
        return comment_receive(channel=channel, comment=item)  # a listening mention
    return False  # pragma: no cover - every NormalisedEvent is handled above


def _store_message(channel: Channel, item: InboundMessage) -> Message | None:
    """Store one inbound message (or echo); a message already stored is left alone."""
    if Message.objects.filter(channel=channel, provider_message_id=item.provider_message_id).exists():
        return None
    identity = identity_resolve(channel=channel, external_id=item.external_user_id, profile=item.profile)
    # Serialises the messages of one sender: conversation choice and counters stay consistent.
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if Message.objects.filter(channel=channel, provider_message_id=item.provider_message_id).exists():
        return None
    conversation = conversation_for_inbound(identity=identity) if not item.is_echo else _echo_conversation(identity)
    if conversation is None:
        return None
    language, sentiment = text_analyse(item.text)
    now = timezone.now()
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                channel=channel,
                direction=Message.Direction.OUTBOUND if item.is_echo else Message.Direction.INBOUND,
                text=item.text,
                attachments=[a.as_dict() for a in item.attachments],
                sender_type=Message.SenderType.SYSTEM if item.is_echo else Message.SenderType.CONTACT,
                sender_contact_id=None if item.is_echo else identity.contact_id,
                provider_message_id=item.provider_message_id,
                metadata=item.metadata,
                status=Message.Status.SENT if item.is_echo else Message.Status.RECEIVED,
                language=language,
                sentiment=sentiment,
                sent_at=item.sent_at or now,
            )
            hooks.message_stored(message_id=message.pk, conversation_id=conversation.pk, inbound=not item.is_echo)
    except IntegrityError:
        return None  # a racing delivery stored it first
    # Bookkeeping columns, left out of the audit trail: a plain UPDATE, not save(), whose audit receiver would
    # read the row back first (a query per message on the hot path, bench/webhook_ingest.py).
    bookkeeping = {"last_message_at": now, "updated_at": now}
    if not item.is_echo:
        bookkeeping["last_inbound_at"] = item.sent_at or now
    Conversation.objects.filter(pk=conversation.pk).update(**bookkeeping)
    return message


def _echo_conversation(identity: Identity) -> Conversation | None:
    """Echoes (the page wrote from another tool) join the current conversation; none is opened for them."""
    return (
        Conversation.objects.filter(channel_id=identity.channel_id, contact_id=identity.contact_id)
        .order_by("-pk")
        .first()
    )


def inbound_events_requeue_stale() -> int:
    """Scheduled: give up (failed) on events whose attempts ran out; ask for a drain when events wait whose
    worker died (their lease, ``last_attempt_at``, is older than ``SOCIAL_EVENT_STALE_SECONDS``) or whose
    drain request was lost. Returns how many events wait."""
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=conf.event_stale_seconds())
    never_claimed = now - dt.timedelta(seconds=DRAIN_FLAG_SECONDS)  # its drain request expired unanswered
    stale = InboundEvent.objects.filter(status=InboundEvent.Status.PENDING).filter(
        Q(last_attempt_at__lt=cutoff) | Q(last_attempt_at__isnull=True, received_at__lt=never_claimed)
    )
    with transaction.atomic():
        exhausted = list(stale.filter(attempts__gte=conf.event_max_attempts()).select_for_update().order_by("pk")[:500])
        for event in exhausted:
            event.status = InboundEvent.Status.FAILED
            event.error = event.error or f"gave up after {event.attempts} attempts"
            event.save(update_fields=["status", "error"])
    waiting = stale.filter(attempts__lt=conf.event_max_attempts()).count()
    if waiting:
        drain_request_on_commit(force=True)
    return waiting


def inbound_event_retry(*, event: InboundEvent) -> bool:
    """Staff hand a failed event back for processing (after a fix); False when it had not failed."""
    with transaction.atomic():
        locked = InboundEvent.objects.select_for_update().get(pk=event.pk)
        if locked.status != InboundEvent.Status.FAILED:
            return False
        locked.status, locked.attempts, locked.error = InboundEvent.Status.PENDING, 0, ""
        locked.last_attempt_at = None
        locked.save(update_fields=["status", "attempts", "error", "last_attempt_at"])
        drain_request_on_commit(force=True)
    return True
