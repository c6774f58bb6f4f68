"""Conversations: one unresolved per contact and channel; inbound messages open (or reopen) it."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, When
from django.utils import timezone

from crm.audit import audit_previous
from crm.models import User
from crm.webhooks.events import webhook_event
from social.models import Conversation, Identity


def conversation_for_inbound(*, identity: Identity) -> Conversation:
    """The conversation an inbound message from ``identity`` belongs to, locked, and open.

    The unresolved one if there is one (pending and snoozed wake up: the customer wrote), else the latest
    resolved one reopened, else a new one. The caller holds the identity's row lock, which serialises
    messages from one sender; the unique constraint catches the rest (two identities of one contact).
    """
    for _ in range(2):
        current = (
            Conversation.objects.select_for_update()
            .filter(channel_id=identity.channel_id, contact_id=identity.contact_id)
            # The unresolved one first: after a merge, a resolved conversation moved over may be newer.
            .order_by(Case(When(status=Conversation.Status.RESOLVED, then=1), default=0), "-pk")
            .first()
        )
        try:
            with transaction.atomic():
                if current is None:
                    return Conversation.objects.create(
                        channel_id=identity.channel_id, contact_id=identity.contact_id, identity=identity
                    )
                if current.status != Conversation.Status.OPEN:
                    current.status = Conversation.Status.OPEN
                    current.snoozed_until = None
                    current.resolved_at = None
                    current.save(update_fields=["status", "snoozed_until", "resolved_at", "updated_at"])
                return current
        except IntegrityError:
            continue  # another delivery opened one a moment ago: take that one
    raise RuntimeError("could not open a conversation")  # pragma: no cover - two races in a row


def conversation_set_status(
    *,
    conversation: Conversation,
    status: str,
    snoozed_until: dt.datetime | None = None,
    actor: User | None = None,
) -> Conversation:
    """Move a conversation to ``status``; resolving stamps ``resolved_at``, snoozing needs a time to wake up,
    in the future (the admin form, the API and routing's "set status" action all come through here)."""
    if status not in Conversation.Status.values:
        raise ValidationError({"status": f"{status!r} is not a conversation status"})
    if status == Conversation.Status.SNOOZED and snoozed_until is None:
        raise ValidationError({"snoozed_until": "Snoozing needs a time to wake up."})
    if status == Conversation.Status.SNOOZED and snoozed_until is not None and snoozed_until <= timezone.now():
        raise ValidationError({"snoozed_until": "The wake-up time must be in the future."})
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        was_resolved = locked.status == Conversation.Status.RESOLVED
        locked.status = status
        locked.snoozed_until = snoozed_until if status == Conversation.Status.SNOOZED else None
        locked.resolved_at = timezone.now() if status == Conversation.Status.RESOLVED else None
        try:
            with transaction.atomic():
                locked.save(update_fields=["status", "snoozed_until", "resolved_at", "updated_at"])
        except IntegrityError:
            raise ValidationError(
                "This contact already has an unresolved conversation on this channel; continue that one."
            ) from None
        if status == Conversation.Status.RESOLVED and not was_resolved:
            webhook_event(record=locked, action="resolved")
    return locked


def conversation_assign(
    *,
    conversation: Conversation,
    assignee: User | None,
    team: str | None = None,
    actor: User | None = None,
    already_locked: bool = False,
) -> Conversation:
    """Give ``conversation`` to ``assignee`` (``None``: nobody), and to ``team`` when given.

    ``already_locked``: see ``conversation_locked``."""
    with conversation_locked(conversation, already_locked) as row:
        previous = row.assignee_id
        row.assignee = assignee
        fields = ["assignee", "updated_at"]
        if team is not None and team != row.team:  # an unchanged team does not recompute the SLA clocks
            row.team = team
            fields.append("team")
        row.save(update_fields=fields)
        if row.assignee_id != previous:
            webhook_event(record=row, action="assigned")
    return row


def conversation_update(
    *,
    conversation: Conversation,
    actor: User | None,
    status: str | None = None,
    snoozed_until: dt.datetime | None = None,
    assignee: User | None = None,
    assignee_changed: bool = False,
    team: str | None = None,
    priority: int | None = None,
    labels: list[str] | None = None,
    already_locked: bool = False,
) -> Conversation:
    """Apply the changes staff made on the conversation page, each through its own rule, in one transaction.

    Only the arguments given change something: ``status`` goes through ``conversation_set_status``
    (resolution stamp, snooze time, one unresolved per contact and channel), the assignee and team
    through ``conversation_assign``; priority and labels are plain fields. ``already_locked`` (routing's
    label and priority actions): see ``conversation_locked``; only for priority and labels.
    """
    if already_locked and (status is not None or assignee_changed or team is not None):
        raise ValueError("already_locked is for priority and labels only")
    with transaction.atomic(savepoint=not already_locked):
        current = conversation
        if status is not None and (status != current.status or snoozed_until != current.snoozed_until):
            current = conversation_set_status(
                conversation=current, status=status, snoozed_until=snoozed_until, actor=actor
            )
        if assignee_changed or (team is not None and team != current.team):
            current = conversation_assign(
                conversation=current,
                assignee=assignee if assignee_changed else current.assignee,
                team=team,
                actor=actor,
            )
        if priority is not None or labels is not None:
            with conversation_locked(current, already_locked) as locked:
                fields = ["updated_at"]
                if priority is not None and priority != locked.priority:
                    locked.priority = priority
                    fields.append("priority")
                if labels is not None and labels != locked.labels:
                    locked.labels = labels
                    fields.append("labels")
                if len(fields) > 1:
                    locked.save(update_fields=fields)
            current = locked
    return current


@contextmanager
def conversation_locked(conversation: Conversation, already_locked: bool) -> Iterator[Conversation]:
    """The conversation's row, locked, in a transaction, to change and save (the services that write it).

    ``already_locked``: ``conversation`` is the row as the caller read it after locking it in the current
    transaction, and the caller's savepoint covers this change (routing runs each action in one). It is
    neither read again nor given a savepoint of its own, and the audit log compares with a copy of it
    instead of reading the old row.
    """
    with transaction.atomic(savepoint=not already_locked):
        if not already_locked:
            yield Conversation.objects.select_for_update().get(pk=conversation.pk)
            return
        audit_previous(conversation, copy.copy(conversation))
        try:
            yield conversation
        finally:
            conversation.__dict__.pop("_audit_previous", None)  # not saved after all: not for a later save


def conversations_wake_snoozed(*, now: dt.datetime | None = None) -> int:
    """Snoozed conversations whose time has come are open again; returns how many woke up."""
    now = now or timezone.now()
    return Conversation.objects.filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=now).update(
        status=Conversation.Status.OPEN, snoozed_until=None, updated_at=now
    )
