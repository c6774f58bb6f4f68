"""Dry run: replay the inbound messages of a time window against a candidate rule set, changing nothing,
and compare what the rules would have done with what the stored routing runs say was done.

1. The rule set: the active rules, or chosen rules (active or not), with unsaved definitions (JSON in the
   admin's schema, validated like the admin) added or replacing saved rules of the same ``id``.
2. The messages: every inbound message (not notes) created in ``[since, until)``, in order.
3. For each message, the context is loaded read-only as routing loads it, and set back to the time of the
   message: ``now`` is the message's time (business hours, time of day), the message count is the count
   up to it, and status, priority, labels and team are the values the stored run saw then (its trace).
   Later messages of the same conversation see the *simulated* labels, priority, team and agent.
4. The events are the stored run's (created / reopened / received), else created (first message) and
   received. The compiled candidate rules run and their actions are simulated symbolically: labels,
   priority, status change the simulated context; replies are rendered; an assignment is simulated with
   ``agent_pick`` against the agents' **current** availability and loads (not their loads at the time
   of the message, which are not recorded; the dry run's own assignments are not added to the loads).
5. The simulated effects are compared with the effects parsed from the stored run's trace.

The whole replay runs in a transaction that is rolled back (on PostgreSQL also ``READ ONLY``, so that
any write would fail loudly): no row changes, no task is enqueued, nothing is sent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from routing.engine.actions import PRIORITY_NAMES
from routing.engine.context import Context, context_from, conversation_rows, message_facts_load
from routing.engine.ruleset import RuleSet, ruleset_build
from routing.engine.templates import render
from routing.models import AgentProfile, RoutingRun, Rule, SlaPolicy, Team, Trigger
from routing.services.assignment import agent_pick
from social.models import Channel, Conversation, Message

MESSAGE_EVENTS = (Trigger.CONVERSATION_CREATED, Trigger.CONVERSATION_REOPENED, Trigger.MESSAGE_RECEIVED)
RULE_KEYS = {
    "id", "name", "position", "is_active", "trigger", "idle_minutes", "idle_waiting_for", "conditions", "actions",
    "stop_processing",
}  # fmt: skip
MAX_MESSAGES = 20_000
OOO_UNTIL = ("ooo", "until")  # in ``Context.memo``: the end of the closed period the replay replied in


class DryRunError(ValueError):
    """The rule definitions or the window are not usable; the message says why (every problem listed)."""


@dataclass
class MessageDiff:
    message_id: int
    at: dt.datetime
    text: str
    would: list[str]
    did: list[str]
    routed: bool  # a stored run exists for the message


@dataclass
class ConversationDiff:
    conversation_id: int
    contact: str
    channel: str
    messages: list[MessageDiff] = field(default_factory=list)


@dataclass
class DryRunReport:
    since: dt.datetime
    until: dt.datetime
    rules: list[str]
    messages: int = 0
    same: int = 0
    conversations: list[ConversationDiff] = field(default_factory=list)

    @property
    def different(self) -> int:
        return sum(len(c.messages) for c in self.conversations)


# --- The rule set ------------------------------------------------------------------------------------------


def rules_from_definitions(definitions: Any) -> list[Rule]:
    """Unsaved ``Rule`` instances from JSON definitions, validated like the admin (``full_clean``).

    ``definitions``: a list of objects with the rule's fields (``name``, ``trigger``, ``conditions``,
    ``actions``, ``stop_processing``, ``position`` …); with ``"id"`` of a saved rule, the definition
    replaces that rule in the dry run. ``DryRunError`` lists every problem.
    """
    if not isinstance(definitions, list) or not all(isinstance(d, dict) for d in definitions):
        raise DryRunError('Rules: write a list of rule objects, e.g. [{"name": "…", "actions": [...]}].')
    problems: list[str] = []
    rules = []
    for index, raw in enumerate(definitions, start=1):
        where = f"Rule {index}" + (f" ({raw['name']})" if isinstance(raw.get("name"), str) else "")
        unknown = set(raw) - RULE_KEYS
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
            continue
        fields = {k: v for k, v in raw.items() if k != "id"}
        rule = Rule(**fields)
        if raw.get("id") is not None:
            if not isinstance(raw["id"], int) or not Rule.objects.filter(pk=raw["id"]).exists():
                problems.append(f"{where}: no saved rule #{raw['id']} to replace")
                continue
            rule.pk = raw["id"]
        try:
            rule.full_clean(validate_unique=False)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                label = "" if name == "__all__" else f"{name}: "
                problems.extend(f"{where}: {label}{message}" for message in messages)
            continue
        rules.append(rule)
    if problems:
        raise DryRunError("\n".join(problems))
    return rules


def candidate_rules(*, rule_ids: Sequence[int] | None = None, definitions: Any = None) -> list[Rule]:
    """The rules to replay: ``rule_ids`` (active or not) or else the active ones, with the definitions
    (``rules_from_definitions``) replacing saved rules of the same id or added. Ordered by position, id."""
    if rule_ids:
        rules = list(Rule.objects.filter(pk__in=rule_ids))
        missing = sorted(set(rule_ids) - {r.pk for r in rules})
        if missing:
            raise DryRunError(f"No rule with id {', '.join(map(str, missing))}.")
    else:
        rules = list(Rule.objects.filter(is_active=True))
    if definitions is not None:
        edited = rules_from_definitions(definitions)
        replaced = {r.pk for r in edited if r.pk is not None}
        rules = [r for r in rules if r.pk not in replaced] + edited
    rules.sort(key=lambda r: (r.position, r.pk or 10**12))
    return rules


def _ruleset(rules: Iterable[Rule], team_names: Mapping[int, str]) -> RuleSet:
    return ruleset_build(("dry run",), rules, team_names)


# --- What was done: effects parsed from a stored run -------------------------------------------------------

_ASSIGNED = re.compile(r"^assigned to (\S+) in (.+?): ")
_QUEUED = re.compile(r"^queued in (.+?): ")
_CLOSED = re.compile(r"^(.+?) is closed: queued")
_STAYS = re.compile(r"^(.+?) is closed; stays with its agent")
_REPLY = re.compile(r"^(?:out-of-office )?reply queued \(message #\d+\): (.*)$", re.DOTALL)
_SLA = re.compile(r"^SLA policy (?:“(.+?)”|#(\d+)) applied")
_EMAIL = re.compile(r"^e-mail to \d+ recipient\(s\) of (.+?), sent")
_WEBHOOK = re.compile(r"^webhook #\d+ to (\S+) queued")


def _effects_done(run: RoutingRun) -> list[str]:
    effects: list[str] = []
    for event in run.trace.get("events", []):
        for rule in event.get("rules", []):
            for action in rule.get("actions", []) or []:
                if action.get("ok"):
                    effects.extend(_effect_of_outcome(action["action"], str(action.get("outcome", ""))))
    return effects


def _effect_of_outcome(kind: str, outcome: str) -> list[str]:
    if kind in ("assign_team", "assign_agent"):
        if m := _ASSIGNED.match(outcome):
            return [f"assign {m.group(2)} → {m.group(1)}"]
        if m := _QUEUED.match(outcome) or _CLOSED.match(outcome):
            return [f"queue in {m.group(1)}"]
        if m := _STAYS.match(outcome):
            return [f"keep agent ({m.group(1)} closed)"]
        return [f"{kind}: {outcome}"]
    if kind in ("reply", "out_of_office"):
        m = _REPLY.match(outcome)
        return [f"reply: {m.group(1)[:200]}"] if m else []
    if kind == "add_labels" and outcome.startswith("labels added: "):
        return [f"label +{label}" for label in outcome.removeprefix("labels added: ").split(", ")]
    if kind == "remove_labels" and outcome.startswith("labels removed: "):
        return [f"label -{label}" for label in outcome.removeprefix("labels removed: ").split(", ")]
    if kind == "set_priority":
        return [outcome]
    if kind == "set_status":
        return [outcome.split(" until ")[0]]
    if kind == "mark_spam":
        return ["label +spam", "status resolved"]
    if kind == "notify_email":
        m = _EMAIL.match(outcome)
        return [f"e-mail {m.group(1)}" if m else "e-mail"]
    if kind == "webhook":
        m = _WEBHOOK.match(outcome)
        return [f"webhook {m.group(1)}" if m else "webhook"]
    if kind == "apply_sla":
        m = _SLA.match(outcome)
        return [f"SLA {m.group(1) or '#' + m.group(2)}" if m else "SLA"]
    return []


# --- What would be done: actions simulated on the context ----------------------------------------------------


@dataclass
class _Lookups:
    teams: dict[int, Team]
    teams_by_name: dict[str, Team]
    policies: dict[int, str]
    channels: dict[int, str]


def _simulate(action: dict[str, Any], ctx: Context, conversation: Conversation, look: _Lookups) -> list[str]:
    kind = action["type"]
    if kind in ("assign_team", "assign_agent"):
        team = look.teams.get(action["team"]) if action.get("team") else look.teams_by_name.get(ctx.team)
        if team is None:
            return []  # the real action fails (deleted team / no team): nothing happens
        if not ctx.is_open(team.name):
            if ctx.assignee_id is not None and ctx.team == team.name:
                return [f"keep agent ({team.name} closed)"]
            ctx.team, ctx.assignee_id, ctx.agent_name = team.name, None, ""
            return [f"queue in {team.name}"]
        if ctx.status == Conversation.Status.RESOLVED:
            return [f"queue in {team.name}"]  # as the real action: a resolved conversation is not routed
        conversation.labels = list(ctx.labels)
        if action.get("agent") is not None:
            profile = AgentProfile.objects.filter(pk=action["agent"]).select_related("user").first()
            user = profile.user if profile is not None else None
        else:
            pick = agent_pick(
                team=team,
                conversation=conversation,
                strategy=action.get("strategy"),
                skills=action.get("skills"),
                language=ctx.contact_language or ctx.language or None,
            )
            user = pick.agent.user if pick is not None else None
        ctx.team = team.name
        if user is None:
            ctx.assignee_id, ctx.agent_name = None, ""
            return [f"queue in {team.name}"]
        ctx.assignee_id, ctx.agent_name = user.pk, user.get_full_name() or user.username
        return [f"assign {team.name} → {user.username}"]
    if kind == "reply":
        return [f"reply: {render(action['template'], ctx.template_values())[:200]}"]
    if kind == "out_of_office":
        team_name = look.teams[action["team"]].name if action.get("team") in look.teams else ctx.team
        if ctx.is_open(team_name):
            return []
        until = ctx.memo.get(OOO_UNTIL)
        if until is not None and ctx.now < until:
            return []  # already replied in this closed period (in this replay)
        text = render(action["template"], {**ctx.template_values(), "next_opening": ctx.next_opening_text(team_name)})
        ctx.memo[OOO_UNTIL] = ctx.next_opening(team_name) or ctx.now + dt.timedelta(days=366)
        return [f"reply: {text[:200]}"]
    if kind == "add_labels":
        new = [label for label in action["labels"] if label not in ctx.labels]
        ctx.set_labels([*ctx.labels, *new])
        return [f"label +{label}" for label in new]
    if kind == "remove_labels":
        gone = [label for label in ctx.labels if label in action["labels"]]
        ctx.set_labels([label for label in ctx.labels if label not in gone])
        return [f"label -{label}" for label in gone]
    if kind == "set_priority":
        ctx.priority = action["priority"]
        return [f"priority {PRIORITY_NAMES[action['priority']]}"]
    if kind == "set_status":
        ctx.status = action["status"]
        return [f"status {action['status']}"]
    if kind == "mark_spam":
        effects = [] if "spam" in ctx.labels else ["label +spam"]
        ctx.set_labels([*ctx.labels, "spam"] if effects else ctx.labels)
        ctx.status = Conversation.Status.RESOLVED
        return [*effects, "status resolved"]
    if kind == "notify_email":
        if action.get("team"):
            team = look.teams.get(action["team"])
            return [f"e-mail team {team.name}"] if team else []
        return ["e-mail user"]
    if kind == "webhook":
        return [f"webhook {action.get('url') or look.channels.get(action['channel'], '')}"]
    if kind == "apply_sla":
        name = look.policies.get(action["policy"])
        return [f"SLA {name}"] if name else []
    return []


def _would(
    rules: RuleSet, events: Sequence[str], ctx: Context, conversation: Conversation, look: _Lookups
) -> list[str]:
    """As ``routing.services.rules.rules_evaluate``: each rule is tested on the context as the earlier rules'
    actions left it."""
    effects: list[str] = []
    for event in events:
        ctx.event = event
        for rule in rules.matching(event, ctx):
            for action in rule.actions:
                effects.extend(_simulate(action, ctx, conversation, look))
    return effects


# --- The replay ---------------------------------------------------------------------------------------------


def dry_run(*, since: dt.datetime, until: dt.datetime, rules: Sequence[Rule]) -> DryRunReport:
    """Replay the inbound messages of ``[since, until)`` against ``rules``; changes nothing (see the module)."""
    if since.tzinfo is None or until.tzinfo is None:
        raise DryRunError("The window needs time-zone-aware times.")
    if until <= since:
        raise DryRunError("The end of the window is not after its start.")
    # READ ONLY must open the transaction; inside a caller's transaction the rollback alone guards.
    read_only = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if read_only:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
        try:
            return _replay(since=since, until=until, rules=rules)
        finally:
            transaction.set_rollback(True)


def _replay(*, since: dt.datetime, until: dt.datetime, rules: Sequence[Rule]) -> DryRunReport:
    teams = {team.pk: team for team in Team.objects.all()}
    look = _Lookups(
        teams=teams,
        teams_by_name={team.name: team for team in teams.values()},
        policies=dict(SlaPolicy.objects.values_list("pk", "name")),
        channels=dict(Channel.objects.filter(kind=Channel.Kind.API).values_list("pk", "name")),
    )
    ruleset = _ruleset(rules, {pk: team.name for pk, team in teams.items()})
    report = DryRunReport(since=since, until=until, rules=[f"#{r.pk or 'new'} {r.name}" for r in rules])
    messages = list(
        Message.objects.filter(
            direction=Message.Direction.INBOUND, is_internal_note=False, created_at__gte=since, created_at__lt=until
        )
        .order_by("created_at", "pk")
        .values_list("pk", "conversation_id", "created_at", "text")[: MAX_MESSAGES + 1]
    )
    if len(messages) > MAX_MESSAGES:
        raise DryRunError(f"More than {MAX_MESSAGES} messages in the window: choose a shorter one.")
    runs = {
        run.message_id: run
        for run in RoutingRun.objects.filter(message_id__in=[m[0] for m in messages]).only(
            "message_id", "events", "trace"
        )
    }
    conversations = {
        c.pk: c
        for c in Conversation.objects.filter(pk__in={m[1] for m in messages}).select_related(
            "channel", "contact", "contact__analysis"
        )
    }
    facts = message_facts_load([m[0] for m in messages])
    rows = conversation_rows(conversations)
    carried: dict[int, dict[str, Any]] = {}  # simulated state per conversation, for its later messages
    by_conversation: dict[int, ConversationDiff] = {}
    for message_id, conversation_id, created_at, text in messages:
        report.messages += 1
        conversation = conversations[conversation_id]
        run = runs.get(message_id)
        ctx = context_from(rows[conversation_id], message_id=message_id, facts=facts[message_id][1], event="")
        ctx.now = created_at
        seen = (run.trace.get("context") or {}) if run is not None else {}
        if "status" in seen:
            ctx.status = seen["status"]
        for name in ("priority", "team"):
            if name in seen:
                setattr(ctx, name, seen[name])
        if "labels" in seen:
            ctx.set_labels(seen["labels"])
        for name, value in carried.get(conversation_id, {}).items():
            if name == "labels":
                ctx.set_labels(value)
            elif name == "ooo_until":
                ctx.memo[OOO_UNTIL] = value
            else:
                setattr(ctx, name, value)
        if run is not None and run.events:
            events = [e for e in run.events if e in MESSAGE_EVENTS]
        else:
            events = ([Trigger.CONVERSATION_CREATED] if ctx.first_message else []) + [Trigger.MESSAGE_RECEIVED]
        would = _would(ruleset, events, ctx, conversation, look)
        carried[conversation_id] = {
            "labels": list(ctx.labels),
            "priority": ctx.priority,
            "team": ctx.team,
            "assignee_id": ctx.assignee_id,
            "agent_name": ctx.agent_name,
            "ooo_until": ctx.memo.get(OOO_UNTIL),
        }
        did = _effects_done(run) if run is not None else []
        if Counter(would) == Counter(did):
            report.same += 1
            continue
        diff = by_conversation.get(conversation_id)
        if diff is None:
            contact = conversation.contact
            diff = by_conversation[conversation_id] = ConversationDiff(
                conversation_id=conversation_id,
                contact=f"{contact.first_name} {contact.last_name}".strip() or f"contact #{contact.pk}",
                channel=conversation.channel.name,
            )
            report.conversations.append(diff)
        diff.messages.append(
            MessageDiff(
                message_id=message_id, at=created_at, text=text[:80], would=would, did=did, routed=run is not None
            )
        )
    return report


def report_lines(report: DryRunReport) -> list[str]:
    """The report as readable lines (the management command prints them; the admin shows the same data)."""
    lines = [
        f"Dry run {report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC over {len(report.rules)} rule(s):",
        *[f"  {name}" for name in report.rules],
        f"{report.messages} inbound message(s) replayed: {report.same} the same, {report.different} different "
        f"in {len(report.conversations)} conversation(s).",
        "Assignments are simulated against the agents' current availability and loads. Nothing was changed.",
    ]
    for conv in report.conversations:
        lines.append("")
        lines.append(f"Conversation #{conv.conversation_id} — {conv.contact} on {conv.channel}")
        for msg in conv.messages:
            lines.append(f"  {msg.at:%Y-%m-%d %H:%M} message #{msg.message_id}: “{msg.text}”")
            would, did = Counter(msg.would), Counter(msg.did)
            for effect in (would - did).elements():
                lines.append(f"    + would: {effect}")
            for effect in (did - would).elements():
                lines.append(f"    - did:   {effect}" + ("" if msg.routed else " (never routed)"))
            if not msg.routed and not msg.would:
                lines.append("    (no stored routing run)")
    return lines
