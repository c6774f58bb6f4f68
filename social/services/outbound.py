"""Outbound: staff replies, templates and notes, their delivery with retries, and delivery receipts.

A reply is stored as ``queued`` and sent by the ``social.tasks.send_message`` task (enqueued on commit).
``message_deliver`` does one attempt:

1. In a short transaction, claim the message: still queued, not claimed by another worker (the claim is
   ``next_attempt_at`` pushed past the HTTP timeout), count the attempt.
2. Call the provider outside any transaction (no row lock held over the network).
3. In a second transaction record the outcome: ``sent`` with the provider's id; a transient error
   (timeout, 429, 5xx) schedules another attempt after ``SOCIAL_SEND_BACKOFF_SECONDS * 2**(n-1)`` (or the
   provider's Retry-After, when longer) until ``SOCIAL_SEND_MAX_ATTEMPTS``; a permanent error, or the last
   attempt, ends in ``failed`` with the provider's reason in ``error``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import User
from social import conf
from social.connectors import connector_for
from social.connectors.base import OutgoingMessage, PermanentSendError, StatusUpdate, TransientSendError
from social.models import Channel, Conversation, Message
from social.services.conversations import conversation_locked
from social.services.queue import enqueue_on_commit, schedule_on_commit

SEND_TASK = "social.tasks.send_message"
WHATSAPP_WINDOW = dt.timedelta(hours=24)
WINDOW_CLOSED = (
    "WhatsApp accepts free-form replies only within 24 hours of the customer's last message; "
    "send an approved template instead."
)
# Receipts only move a message forward: a late "delivered" must not undo "read".
_RANK = {
    Message.Status.QUEUED: 0,
    Message.Status.SENT: 1,
    Message.Status.DELIVERED: 2,
    Message.Status.READ: 3,
}


class ReplyRefused(ValidationError):
    """The reply cannot be sent on this channel now (inactive channel, closed WhatsApp window, …)."""


def whatsapp_window_open(conversation: Conversation, *, now: dt.datetime | None = None) -> bool:
    last = conversation.last_inbound_at
    return last is not None and (now or timezone.now()) - last < WHATSAPP_WINDOW


def _check_can_send(conversation: Conversation, *, template: bool) -> Channel:
    channel = conversation.channel
    if not channel.is_active:
        raise ReplyRefused("The channel is inactive.")
    if connector_for(channel.kind) is None:
        raise ReplyRefused(f"Sending on {channel.get_kind_display()} is not available yet.")
    if channel.kind == Channel.Kind.WHATSAPP and not template and not whatsapp_window_open(conversation):
        raise ReplyRefused(WINDOW_CLOSED)
    if conversation.identity_id is None:
        raise ReplyRefused("The conversation has no recipient on this channel.")
    return channel


def _queue(
    *,
    conversation: Conversation,
    user: User | None,
    text: str,
    attachments: list[dict[str, Any]],
    template: dict[str, Any] | None,
    metadata: dict[str, str] | None = None,
    already_locked: bool = False,
) -> Message:
    with conversation_locked(conversation, already_locked) as locked:
        now = timezone.now()
        message = Message.objects.create(
            conversation=locked,
            channel_id=locked.channel_id,
            direction=Message.Direction.OUTBOUND,
            text=text,
            attachments=attachments,
            template=template,
            metadata=metadata or {},
            sender_type=Message.SenderType.STAFF if user else Message.SenderType.SYSTEM,
            sender_user=user,
            status=Message.Status.QUEUED,
        )
        locked.last_message_at = now
        fields = ["last_message_at", "updated_at"]
        if user is not None and locked.first_response_at is None:
            locked.first_response_at = now
            fields.append("first_response_at")
        locked.save(update_fields=fields)
        enqueue_on_commit(SEND_TASK, message.pk)
    return message


def message_reply(
    *,
    conversation: Conversation,
    text: str,
    user: User | None,
    attachments: list[dict[str, Any]] | None = None,
    already_locked: bool = False,
) -> Message:
    """Queue a reply to the contact (``user`` None: a bot/system reply). Raises ``ReplyRefused``.

    ``already_locked`` (a routing run): see ``social.services.conversations.conversation_locked``; its
    ``last_message_at`` is updated in place."""
    if not text.strip() and not attachments:
        raise ReplyRefused("Write a message or attach a file.")
    _check_can_send(conversation, template=False)
    return _queue(
        conversation=conversation,
        user=user,
        text=text,
        attachments=attachments or [],
        template=None,
        already_locked=already_locked,
    )


def comment_reply_queue(
    *, conversation: Conversation, comment_id: str, mode: str, text: str, user: User | None
) -> Message:
    """Queue an answer to a public comment: ``mode`` "public" (under it) or "private" (to its author's inbox).

    Sent by the same task and retries as any reply; the connector sees ``OutgoingMessage.reply_to_comment``.
    """
    if not text.strip():
        raise ReplyRefused("Write the reply.")
    channel = _check_can_send(conversation, template=False)
    connector = connector_for(channel.kind)
    if connector is None or mode not in connector.comment_replies:
        raise ReplyRefused(f"{channel.get_kind_display()} cannot send a {mode} reply to a comment.")
    metadata = {"reply_to_comment": comment_id, "comment_reply": mode}
    return _queue(conversation=conversation, user=user, text=text, attachments=[], template=None, metadata=metadata)


def message_send_template(
    *,
    conversation: Conversation,
    name: str,
    language: str = "en_US",
    components: list[dict[str, Any]] | None = None,
    user: User | None,
) -> Message:
    """Queue a WhatsApp template message (allowed outside the 24-hour window)."""
    if conversation.channel.kind != Channel.Kind.WHATSAPP:
        raise ReplyRefused("Templates are a WhatsApp feature.")
    _check_can_send(conversation, template=True)
    template = {"name": name, "language": language, "components": components or []}
    return _queue(conversation=conversation, user=user, text=f"[template {name}]", attachments=[], template=template)


def note_add(*, conversation: Conversation, text: str, user: User) -> Message:
    """An internal note: staff only, never sent."""
    if not text.strip():
        raise ValidationError("Write the note.")
    return Message.objects.create(
        conversation=conversation,
        channel_id=conversation.channel_id,
        direction=Message.Direction.OUTBOUND,
        is_internal_note=True,
        text=text,
        sender_type=Message.SenderType.STAFF,
        sender_user=user,
        status="",
    )


def _backoff(attempt: int, retry_after: float | None) -> dt.timedelta:
    delay = conf.send_backoff_seconds() * (2 ** max(attempt - 1, 0))
    return dt.timedelta(seconds=max(delay, retry_after or 0))


def message_deliver(*, message_id: int) -> str:
    """One delivery attempt for a queued message; returns the message's status afterwards."""
    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.status != Message.Status.QUEUED or message.is_internal_note:
            return message.status
        if message.next_attempt_at is not None and message.next_attempt_at > now:
            return message.status  # claimed by another worker, or not due yet
        message.send_attempts += 1
        # The claim: a second copy of this task started meanwhile sees a future next_attempt_at and stops.
        message.next_attempt_at = now + dt.timedelta(seconds=conf.http_timeout() * 3)
        message.save(update_fields=["send_attempts", "next_attempt_at", "updated_at"])
        conversation = Conversation.objects.select_related("channel", "identity").get(pk=message.conversation_id)
        channel = conversation.channel
        connector = connector_for(channel.kind)
        # Email answers in the customer's thread (In-Reply-To, References, "Re: subject"): hand the
        # connector what the latest inbound message carried. Other kinds have no use for it.
        thread = (
            Message.objects.filter(conversation_id=message.conversation_id, direction=Message.Direction.INBOUND)
            .order_by("-created_at", "-pk")
            .values_list("metadata", flat=True)
            .first()
            if connector is not None and connector.answers_in_thread
            else None
        )
    outgoing = OutgoingMessage(
        recipient=conversation.identity.external_id if conversation.identity else "",
        text=message.text,
        attachments=tuple(message.attachments or ()),
        template=message.template,
        reference=f"scrm-msg-{message.pk}",
        thread={str(k): str(v) for k, v in (thread or {}).items()},
        reply_to_comment=str((message.metadata or {}).get("reply_to_comment", "")),
        comment_reply=str((message.metadata or {}).get("comment_reply", "")),
    )
    try:
        if connector is None:
            raise PermanentSendError(f"no connector for {channel.kind}")
        result = connector.send(channel, outgoing)
    except TransientSendError as exc:
        return _record_transient(message_id=message_id, error=exc)
    except PermanentSendError as exc:
        return _record(message_id=message_id, status=Message.Status.FAILED, error=exc.reason)
    return _record(
        message_id=message_id,
        status=Message.Status.SENT,
        provider_message_id=result.provider_message_id,
        metadata=result.metadata,
    )


def _record(
    *,
    message_id: int,
    status: str,
    error: str = "",
    provider_message_id: str | None = None,
    metadata: dict[str, str] | None = None,
) -> str:
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.status != Message.Status.QUEUED:
            return message.status  # a receipt overtook us
        message.status = status
        message.error = error[:2000]
        message.next_attempt_at = None
        fields = ["status", "error", "next_attempt_at", "updated_at"]
        if metadata:
            message.metadata = {**(message.metadata or {}), **metadata}
            fields.append("metadata")
        if provider_message_id:
            # An echo of this very message may have arrived (and been stored) before we got the id back.
            Message.objects.filter(
                channel_id=message.channel_id,
                provider_message_id=provider_message_id,
                sender_type=Message.SenderType.SYSTEM,
                sender_user__isnull=True,
            ).exclude(pk=message.pk).delete()
            message.provider_message_id = provider_message_id
            message.sent_at = timezone.now()
            fields += ["provider_message_id", "sent_at"]
        try:
            with transaction.atomic():
                message.save(update_fields=fields)
        except IntegrityError:
            message.provider_message_id = None
            message.save(update_fields=fields)
        return message.status


def _record_transient(*, message_id: int, error: TransientSendError) -> str:
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.status != Message.Status.QUEUED:
            return message.status
        if message.send_attempts >= conf.send_max_attempts():
            message.status = Message.Status.FAILED
            message.error = f"gave up after {message.send_attempts} attempts: {error.reason}"[:2000]
            message.next_attempt_at = None
        else:
            message.error = f"attempt {message.send_attempts} failed, retrying: {error.reason}"[:2000]
            message.next_attempt_at = timezone.now() + _backoff(message.send_attempts, error.retry_after)
            schedule_on_commit(SEND_TASK, message.pk, at=message.next_attempt_at)
        message.save(update_fields=["status", "error", "next_attempt_at", "updated_at"])
        return message.status


def message_status_apply(*, channel: Channel, update: StatusUpdate) -> int:
    """Apply a delivery/read/failed receipt to our outbound messages; returns how many changed."""
    messages = Message.objects.filter(channel=channel, direction=Message.Direction.OUTBOUND, is_internal_note=False)
    if update.provider_message_ids:
        messages = messages.filter(provider_message_id__in=update.provider_message_ids)
    elif update.watermark is not None and update.external_user_id:
        # Messenger: everything sent to this person up to the watermark.
        messages = messages.filter(
            conversation__identity__external_id=update.external_user_id, sent_at__lte=update.watermark
        )
    else:
        return 0
    at = update.at or timezone.now()
    changed = 0
    with transaction.atomic():
        for message in messages.select_for_update().order_by("pk"):
            fields = _advance(message, update.status, at, update.error)
            if fields:
                message.save(update_fields=[*fields, "updated_at"])
                changed += 1
    return changed


def _advance(message: Message, status: str, at: dt.datetime, error: str) -> list[str]:
    current = message.status
    if status == Message.Status.FAILED:
        if current in (Message.Status.QUEUED, Message.Status.SENT):
            message.status, message.error = Message.Status.FAILED, error or "the provider reported a failure"
            return ["status", "error"]
        return []
    if current not in _RANK or status not in _RANK or _RANK[Message.Status(status)] <= _RANK[Message.Status(current)]:
        return []
    message.status = status
    fields = ["status"]
    if status in (Message.Status.DELIVERED, Message.Status.READ) and message.delivered_at is None:
        message.delivered_at = at
        fields.append("delivered_at")
    if status == Message.Status.READ:
        message.read_at = at
        fields.append("read_at")
    return fields


def messages_requeue_stale() -> int:
    """Queued messages whose send task vanished (worker killed, enqueue lost) are handed out again."""
    cutoff = timezone.now() - dt.timedelta(seconds=conf.event_stale_seconds())
    stale = Message.objects.filter(status=Message.Status.QUEUED, is_internal_note=False, created_at__lt=cutoff).filter(
        next_attempt_at__isnull=True
    ) | Message.objects.filter(status=Message.Status.QUEUED, is_internal_note=False, next_attempt_at__lt=cutoff)
    ids = list(stale.order_by("pk").values_list("pk", flat=True)[:500])
    with transaction.atomic():
        for message_id in ids:
            enqueue_on_commit(SEND_TASK, message_id)
    return len(ids)


def message_retry(*, message: Message) -> bool:
    """Staff send a failed message again (after fixing credentials, say); False when it had not failed."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.status != Message.Status.FAILED or locked.direction != Message.Direction.OUTBOUND:
            return False
        locked.status, locked.error, locked.send_attempts, locked.next_attempt_at = Message.Status.QUEUED, "", 0, None
        locked.save(update_fields=["status", "error", "send_attempts", "next_attempt_at", "updated_at"])
        enqueue_on_commit(SEND_TASK, locked.pk)
    return True
