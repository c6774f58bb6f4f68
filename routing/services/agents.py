"""Agents: availability changes, and what follows them (draining queues, releasing conversations)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.models import User
from routing.models import AgentProfile, QueueEntry, Team
from routing.services.assignment import conversation_assign_agent, team_queue_drain
from social.models import Conversation
from social.services.conversations import conversation_assign
from social.services.queue import enqueue_on_commit


def agent_set_availability(*, agent: AgentProfile, availability: str, actor: User | None) -> AgentProfile:
    """Set ``agent``'s availability (online, away, offline) and stamp when it changed.

    1. Lock the profile row and write the new value (no-op when unchanged: the stamp keeps the time of the
       real change).
    2. After commit, in a task: coming online drains the queues of the agent's teams that have conversations
       waiting (oldest first); going offline releases the agent's open conversations of each team whose
       ``release_on_offline`` is set. Away keeps the conversations and takes no new ones. These run after
       commit, outside this transaction, because they lock conversations, which must never be locked after
       an agent (see ``routing.services.assignment``).
    """
    if availability not in AgentProfile.Availability.values:
        raise ValidationError({"availability": f"{availability!r} is not one of {AgentProfile.Availability.values}"})
    with transaction.atomic():
        locked = AgentProfile.objects.select_for_update().select_related("user").get(pk=agent.pk)
        if locked.availability == availability:
            return locked
        locked.availability = availability
        locked.availability_changed_at = timezone.now()
        locked.save(update_fields=["availability", "availability_changed_at", "updated_at"])
        if availability == AgentProfile.Availability.ONLINE:
            waiting = locked.teams.filter(queue__isnull=False).values_list("pk", flat=True).distinct().order_by("pk")
            for team_id in waiting:
                enqueue_on_commit("routing.tasks.drain_team_queue", team_id)
        elif availability == AgentProfile.Availability.OFFLINE:
            for team_id in locked.teams.filter(release_on_offline=True).values_list("pk", flat=True):
                enqueue_on_commit("routing.tasks.release_agent_conversations", locked.pk, team_id)
    return locked


def agent_release_conversations(*, agent: AgentProfile, team: Team, actor: User | None = None) -> int:
    """Give ``agent``'s open conversations of ``team`` back to the team, if the agent is still offline.

    Each one goes through ``conversation_assign_agent`` with the agent excluded by being offline: it lands
    with another member who has room or waits in the team's queue (behind older waiting conversations,
    which are then served first). Conversations of other teams stay. Run it outside a transaction (it is
    a task): each conversation is released in its own.
    Returns how many were released. Safe to run twice (the second run finds nothing assigned).
    """
    released = 0
    ids = list(
        Conversation.objects.filter(assignee_id=agent.user_id, team=team.name)
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("last_inbound_at", "pk")
        .values_list("pk", flat=True)
    )
    for conversation_id in ids:
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
            if conversation is None or conversation.assignee_id != agent.user_id:
                continue
            # Re-read under the conversation's lock: an agent back online in the meantime keeps the rest.
            if AgentProfile.objects.get(pk=agent.pk).availability != AgentProfile.Availability.OFFLINE:
                break
            conversation = conversation_assign(conversation=conversation, assignee=None, actor=actor)
            # Waiting since now (not since the conversation started): it was being served until now.
            QueueEntry.objects.filter(conversation=conversation).delete()
            conversation_assign_agent(conversation=conversation, team=team, actor=actor)
            released += 1
    if released:
        # Released conversations queue behind older ones when there are any; serve the queue in order.
        team_queue_drain(team=team)
    return released
