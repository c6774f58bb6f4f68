"""Decoupled side effects of social's conversation changes on routing (the flow itself goes through services).

Resolving a conversation frees a place with its agent: the agent's teams' queues are drained after commit,
and the next customer message fires the ``conversation_reopened`` rules (``RoutingState.reopen_pending``).
SLA clocks (``routing.services.sla``) are met by staff replies and resolution, and recomputed when the
priority or team changes.
Social does not know routing exists, so this listens to ``post_save`` instead of being called, and hears
about stored messages through ``social.hooks`` (one routing task per stored batch of inbound messages,
after commit).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.utils import timezone

from routing.models import QueueEntry, RoutingState, Team
from routing.services.sla import sla_conversation_changed, sla_resolved, sla_staff_replied
from social import hooks
from social.models import Conversation, Message
from social.services.queue import enqueue_on_commit


def _conversation_saved(sender: Any, instance: Conversation, update_fields: Any = None, **_: Any) -> None:
    if update_fields is not None and "status" not in update_fields:
        return
    if instance.status != Conversation.Status.RESOLVED:
        return
    sla_resolved(conversation_id=instance.pk, at=instance.resolved_at or timezone.now())
    QueueEntry.objects.filter(conversation_id=instance.pk).delete()
    RoutingState.objects.update_or_create(conversation_id=instance.pk, defaults={"reopen_pending": True})
    if instance.assignee_id is None:
        return
    # Only the agent's teams that have someone waiting: most resolutions cost one query and no task.
    team_ids = (
        Team.objects.filter(memberships__agent__user_id=instance.assignee_id, queue__isnull=False)
        .values_list("pk", flat=True)
        .distinct()
        .order_by("pk")
    )
    for team_id in team_ids:
        enqueue_on_commit("routing.tasks.drain_team_queue", team_id)


def _conversation_sla(sender: Any, instance: Conversation, created: bool, update_fields: Any = None, **_: Any) -> None:
    """A priority or team change recomputes the open SLA clocks; a team change may bring its default policy."""
    if created or instance.status == Conversation.Status.RESOLVED:
        return
    fields = set(update_fields) if update_fields is not None else {"priority", "team"}
    if fields & {"priority", "team"}:
        sla_conversation_changed(conversation=instance, team_changed="team" in fields)


def _message_saved(sender: Any, instance: Message, created: bool, **_: Any) -> None:
    """A staff reply (not a bot reply, not a note) meets the open response clocks."""
    if (
        created
        and instance.direction == Message.Direction.OUTBOUND
        and instance.sender_type == Message.SenderType.STAFF
        and not instance.is_internal_note
    ):
        sla_staff_replied(conversation_id=instance.conversation_id, at=instance.created_at)


def _messages_stored(stored: tuple[hooks.StoredMessage, ...]) -> None:
    """One routing task for the inbound messages stored together (the drain stores a batch at once)."""
    inbound = [item.message_id for item in stored if item.inbound]
    if inbound:
        enqueue_on_commit("routing.tasks.route_messages", *inbound)


def connect() -> None:
    hooks.on_messages_stored(_messages_stored)
    post_save.connect(_conversation_saved, sender=Conversation, dispatch_uid="routing.conversation_saved")
    post_save.connect(_conversation_sla, sender=Conversation, dispatch_uid="routing.conversation_sla")
    post_save.connect(_message_saved, sender=Message, dispatch_uid="routing.message_saved")
