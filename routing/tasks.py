"""django-q2 tasks: ids in, one service call, safe to run twice."""

from __future__ import annotations

from routing.models import AgentProfile, QueueEntry, Team
from routing.services.agents import agent_release_conversations
from routing.services.assignment import team_queue_drain
from routing.services.routing_batch import messages_route
from routing.services.rules import idle_rules_fire, message_route
from routing.services.sla import sla_sweep as sla_sweep_service
from routing.services.webhooks import rule_webhook_deliver


def drain_team_queue(team_id: int) -> int:
    team = Team.objects.filter(pk=team_id).first()
    return team_queue_drain(team=team) if team is not None else 0


def release_agent_conversations(agent_id: int, team_id: int) -> int:
    agent = AgentProfile.objects.filter(pk=agent_id).select_related("user").first()
    team = Team.objects.filter(pk=team_id).first()
    if agent is None or team is None:
        return 0
    return agent_release_conversations(agent=agent, team=team)


def drain_queues() -> int:
    """Scheduled every minute (migration 0002): drain every team that has conversations waiting.

    The events that free capacity ask for a drain themselves; this sweep catches the ones that do not
    (a conversation reassigned or deleted by hand, a task lost with its worker).
    """
    team_ids = QueueEntry.objects.values_list("team_id", flat=True).distinct().order_by("team_id")
    return sum(drain_team_queue(team_id) for team_id in list(team_ids))


def route_message(message_id: int) -> int | None:
    """Run the rules for a stored inbound message (once: a second run finds the recorded run)."""
    run = message_route(message_id=message_id)
    return run.pk if run is not None else None


def route_messages(*message_ids: int) -> int:
    """Run the rules for each stored inbound message, in order (the ones stored together by one drain), in
    one transaction, once. Returns how many were routed now."""
    return messages_route(message_ids=message_ids)


def deliver_rule_webhook(call_id: int) -> str:
    return rule_webhook_deliver(call_id=call_id)


def fire_idle_rules() -> int:
    """Scheduled every minute (migration 0004): the "conversation idle" rules."""
    return idle_rules_fire()


def sla_sweep() -> dict[str, int]:
    """Scheduled every minute (migration 0006): SLA warnings and breaches, their rules fired once per clock."""
    return sla_sweep_service()
