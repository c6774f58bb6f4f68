"""What a matched rule does. Each action runs in its own savepoint (``routing.services.rules``): one that
fails is rolled back alone and recorded in the trace; the others still run.

Side effects outside the database wait for the commit: replies are sent by social's send task, e-mails by
``send_mail`` in an on-commit hook, partner webhooks by ``routing.tasks.deliver_rule_webhook``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from routing.engine.compiler import CompiledRule
from routing.engine.context import Context
from routing.engine.templates import render
from routing.models import AgentProfile, QueueEntry, RoutingRun, RoutingState, RuleWebhookCall, Team
from routing.services.assignment import Held, conversation_assign_agent, team_queue_drain
from social.models import Channel, Conversation
from social.services.conversations import conversation_assign, conversation_set_status, conversation_update
from social.services.outbound import message_reply
from social.services.queue import enqueue_on_commit

WEBHOOK_TASK = "routing.tasks.deliver_rule_webhook"
PRIORITY_NAMES = {0: "low", 1: "normal", 2: "high", 3: "urgent"}


class ActionFailed(Exception):
    """The action cannot run now (a team deleted since the rule was saved, nobody to e-mail, …)."""


@dataclass
class RunState:
    ctx: Context
    conversation: Conversation
    rule: CompiledRule
    event: str
    run: RoutingRun | None

    def set_conversation(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.ctx.team = conversation.team
        self.ctx.assignee_id = conversation.assignee_id
        self.ctx.status = conversation.status
        self.ctx.priority = conversation.priority
        self.ctx.set_labels(conversation.labels or [])

    def routing_state(self) -> RoutingState:
        # The conversation's row lock (taken by the run) serialises writers of this row.
        state, _ = RoutingState.objects.get_or_create(conversation_id=self.conversation.pk)
        return state


def _team(team_id: int, state: RunState) -> Team:
    teams = state.ctx.teams
    if team_id not in teams:
        teams[team_id] = Team.objects.filter(pk=team_id).first()
    team: Team | None = teams[team_id]
    if team is None:
        raise ActionFailed(f"team #{team_id} no longer exists")
    return team


def _current_team(state: RunState, team_id: int | None) -> Team:
    if team_id is not None:
        return _team(team_id, state)
    team = Team.objects.filter(name=state.conversation.team).first() if state.conversation.team else None
    if team is None:
        raise ActionFailed("the conversation has no team: assign a team first (or name one in the action)")
    return team


def _queue_until_opening(state: RunState, team: Team) -> str:
    """A closed team: the conversation waits in its queue (no agent) until the drain after the opening."""
    conversation = state.conversation
    when = state.ctx.next_opening_text(team.name)
    if conversation.assignee_id is not None and conversation.team == team.name:
        return f"{team.name} is closed; stays with its agent (opens {when})"
    conversation = conversation_assign(conversation=conversation, assignee=None, team=team.name)
    entry = QueueEntry.objects.filter(conversation=conversation).first()
    if entry is None:
        QueueEntry.objects.create(conversation=conversation, team=team, queued_at=state.ctx.now)
    elif entry.team_id != team.pk:
        entry.team = team
        entry.save(update_fields=["team"])
    state.set_conversation(conversation)
    state.ctx.agent_name = ""
    return f"{team.name} is closed: queued until it opens ({when})"


def _route(state: RunState, team: Team, *, strategy: str | None, agent_id: int | None, skills: list[str] | None) -> str:
    if not state.ctx.is_open(team.name):
        return _queue_until_opening(state, team)
    agent = None
    if agent_id is not None:
        agent = AgentProfile.objects.filter(pk=agent_id).select_related("user").first()
        if agent is None:
            raise ActionFailed(f"agent #{agent_id} no longer exists")
    language = state.ctx.contact_language or state.ctx.language or None
    if state.ctx.held is None:
        state.ctx.held = Held()
    # The run holds the conversation's lock and ``state.conversation`` is the row as it stands.
    outcome = conversation_assign_agent(
        conversation=state.conversation,
        team=team,
        strategy=strategy,
        agent=agent,
        skills=skills,
        language=language,
        already_locked=True,
        held=state.ctx.held,
    )
    if outcome.behind:
        # As ``conversation_route_to_team``: older conversations are served first, after this commit.
        transaction.on_commit(partial(team_queue_drain, team=team), robust=True)
    state.set_conversation(outcome.conversation)
    if outcome.agent is not None:
        user = outcome.agent.user
        state.ctx.agent_name = user.get_full_name() or user.username
        return f"assigned to {user.username} in {team.name}: {outcome.reason}"
    state.ctx.agent_name = ""
    return f"queued in {team.name}: {outcome.reason}"


def _assign_team(action: dict[str, Any], state: RunState) -> str:
    return _route(state, _team(action["team"], state), strategy=None, agent_id=None, skills=None)


def _assign_agent(action: dict[str, Any], state: RunState) -> str:
    team = _current_team(state, action.get("team"))
    return _route(
        state, team, strategy=action.get("strategy"), agent_id=action.get("agent"), skills=action.get("skills")
    )


def _reply(action: dict[str, Any], state: RunState) -> str:
    text = render(action["template"], state.ctx.template_values())
    # The run holds the conversation's lock and ``state.conversation`` is the row as it stands.
    message = message_reply(conversation=state.conversation, text=text, user=None, already_locked=True)
    return f"reply queued (message #{message.pk}): {text[:200]}"


def _out_of_office(action: dict[str, Any], state: RunState) -> str:
    team_name = _team(action["team"], state).name if action.get("team") else state.ctx.team
    if state.ctx.is_open(team_name):
        return "skipped: open now"
    routing_state = state.routing_state()
    now = state.ctx.now
    if routing_state.ooo_replied_until is not None and now < routing_state.ooo_replied_until:
        until = f"{routing_state.ooo_replied_until:%Y-%m-%d %H:%M} UTC"
        return f"skipped: already replied in this closed period (until {until})"
    text = render(
        action["template"], {**state.ctx.template_values(), "next_opening": state.ctx.next_opening_text(team_name)}
    )
    # The run holds the conversation's lock and ``state.conversation`` is the row as it stands.
    message = message_reply(conversation=state.conversation, text=text, user=None, already_locked=True)
    # One reply per closed period: the period ends at the next opening (a calendar that never opens again: a year).
    routing_state.ooo_replied_until = state.ctx.next_opening(team_name) or now + dt.timedelta(days=366)
    routing_state.save(update_fields=["ooo_replied_until"])
    return f"out-of-office reply queued (message #{message.pk}): {text[:200]}"


def _set_labels(state: RunState, labels: list[str]) -> None:
    updated = conversation_update(conversation=state.conversation, actor=None, labels=labels, already_locked=True)
    state.set_conversation(updated)


def _add_labels(action: dict[str, Any], state: RunState) -> str:
    current = list(state.conversation.labels or [])
    new = [label for label in action["labels"] if label not in current]
    if not new:
        return "already labelled"
    _set_labels(state, current + new)
    return f"labels added: {', '.join(new)}"


def _remove_labels(action: dict[str, Any], state: RunState) -> str:
    current = list(state.conversation.labels or [])
    kept = [label for label in current if label not in action["labels"]]
    if kept == current:
        return "none of these labels was set"
    _set_labels(state, kept)
    return f"labels removed: {', '.join(label for label in current if label not in kept)}"


def _set_priority(action: dict[str, Any], state: RunState) -> str:
    updated = conversation_update(
        conversation=state.conversation, actor=None, priority=action["priority"], already_locked=True
    )
    state.set_conversation(updated)
    return f"priority {PRIORITY_NAMES[action['priority']]}"


def _set_status(action: dict[str, Any], state: RunState) -> str:
    status = action["status"]
    until = state.ctx.now + dt.timedelta(minutes=action["snooze_minutes"]) if status == "snoozed" else None
    updated = conversation_set_status(conversation=state.conversation, status=status, snoozed_until=until)
    state.set_conversation(updated)
    if status != Conversation.Status.RESOLVED and state.ctx.held is not None:
        state.ctx.held.forget()  # a reopened conversation counts for its agent again: count loads anew
    return f"status {status}" + (f" until {until:%Y-%m-%d %H:%M} UTC" if until else "")


def _mark_spam(action: dict[str, Any], state: RunState) -> str:
    current = list(state.conversation.labels or [])
    if "spam" not in current:
        _set_labels(state, [*current, "spam"])
    updated = conversation_set_status(conversation=state.conversation, status=Conversation.Status.RESOLVED)
    state.set_conversation(updated)
    return 'labelled "spam" and resolved'


def _notify_email(action: dict[str, Any], state: RunState) -> str:
    from crm.models import User

    if action.get("team"):
        team = _team(action["team"], state)
        users = User.objects.filter(agent_profile__memberships__team=team, is_active=True)
        who = f"team {team.name}"
    else:
        users = User.objects.filter(pk=action["user"], is_active=True)
        who = "user"
    recipients = sorted({email for email in users.values_list("email", flat=True) if email})
    if not recipients:
        raise ActionFailed(f"nobody to e-mail ({who} has no active member with an e-mail address)")
    conversation = state.conversation
    path = reverse("admin:social_conversation_change", args=[conversation.pk])
    intro = render(action["message"], state.ctx.template_values()) if action.get("message") else ""
    body = "\n\n".join(
        part
        for part in (
            intro,
            f"Rule “{state.rule.name}” ({state.event}) on conversation #{conversation.pk} "
            f"with {state.ctx.template_values()['contact.name'] or 'a contact'} on {state.ctx.channel_name}.",
            f"Last message: {state.ctx.text[:500]}" if state.ctx.text else "",
            f"Open it in the admin: {path}",
        )
        if part
    )
    subject = f"[Social CRM] {state.rule.name}: conversation #{conversation.pk}"
    transaction.on_commit(
        partial(send_mail, subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False), robust=True
    )
    return f"e-mail to {len(recipients)} recipient(s) of {who}, sent after commit"


def _webhook(action: dict[str, Any], state: RunState) -> str:
    channel = Channel.objects.filter(pk=action["channel"], kind=Channel.Kind.API).first()
    if channel is None:
        raise ActionFailed(f"partner API channel #{action['channel']} no longer exists")
    url = action.get("url") or channel.setting("outbound_url")
    if not url:
        raise ActionFailed("the channel has no partner URL")
    ctx = state.ctx
    body = {
        "type": "routing_event",
        "event": state.event,
        "rule": {"id": state.rule.id, "name": state.rule.name},
        "conversation": {
            "id": state.conversation.pk,
            "status": ctx.status,
            "priority": PRIORITY_NAMES.get(ctx.priority, ctx.priority),
            "team": ctx.team,
            "labels": list(ctx.labels),
            "channel": ctx.channel_kind,
        },
        "message": {"id": ctx.message_id, "text": ctx.text} if ctx.message_id else None,
    }
    call = RuleWebhookCall.objects.create(run=state.run, rule_id=state.rule.id, channel=channel, url=url, body=body)
    enqueue_on_commit(WEBHOOK_TASK, call.pk)
    return f"webhook #{call.pk} to {url} queued (sent after commit)"


def _apply_sla(action: dict[str, Any], state: RunState) -> str:
    from routing.models import SlaPolicy
    from routing.services.sla import sla_apply

    policy = SlaPolicy.objects.filter(pk=action["policy"]).first()
    if policy is None:
        raise ActionFailed(f"SLA policy #{action['policy']} no longer exists")
    try:
        started = sla_apply(conversation=state.conversation, policy=policy, now=state.ctx.now)
    except ValueError as exc:
        raise ActionFailed(str(exc)) from None
    clocks = ", ".join(f"{c.get_kind_display().lower()} due {c.due_at:%Y-%m-%d %H:%M} UTC" for c in started)
    return f"SLA policy “{policy}” applied" + (f": {clocks}" if clocks else "")


RUNNERS = {
    "assign_team": _assign_team,
    "assign_agent": _assign_agent,
    "reply": _reply,
    "out_of_office": _out_of_office,
    "add_labels": _add_labels,
    "remove_labels": _remove_labels,
    "set_priority": _set_priority,
    "set_status": _set_status,
    "mark_spam": _mark_spam,
    "notify_email": _notify_email,
    "webhook": _webhook,
    "apply_sla": _apply_sla,
}


def action_run(action: dict[str, Any], state: RunState) -> str:
    """Run one action; returns what happened (for the trace). Raises on failure."""
    return RUNNERS[action["type"]](action, state)


def action_describe(action: dict[str, Any], team_names: dict[int, str]) -> str:
    """One line for the admin and the rule test page (no side effect)."""
    kind = action["type"]
    details = {k: v for k, v in action.items() if k != "type"}
    if "team" in details:
        details["team"] = team_names.get(details["team"], f"#{details['team']} (deleted)")
    if kind == "set_priority":
        details["priority"] = PRIORITY_NAMES.get(details["priority"], details["priority"])
    shown = ", ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in details.items())
    return f"{kind.replace('_', ' ')}" + (f" ({shown})" if shown else "")
