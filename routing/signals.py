"""Decoupled side effects of social's conversation changes on routing (the flow itself goes through services).

Resolving a conversation frees a place with its agent: the agent's teams' queues are drained after commit.
Social does not know routing exists, so this listens to ``post_save`` instead of being called.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from routing.models import QueueEntry, Team
from social.models import Conversation
from social.services.queue import enqueue_on_commit


def _conversation_saved(sender: Any, instance: Conversation, update_fields: Any = None, **_: Any) -> None:
    if update_fields is not None and "status" not in update_fields:
        return
    if instance.status != Conversation.Status.RESOLVED:
        return
    QueueEntry.objects.filter(conversation_id=instance.pk).delete()
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


def connect() -> None:
    post_save.connect(_conversation_saved, sender=Conversation, dispatch_uid="routing.conversation_saved")
