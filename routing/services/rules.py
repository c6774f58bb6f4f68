"""Running the rules: for a stored message (``message_route``) or any other event (``rules_run``).

One run, in one transaction:

1. Record the run under its key (``message:<id>``): the key is unique, so a second run for the same message
   (a task run twice, two workers) finds it and does nothing — no second reply.
2. Lock the conversation (before any agent: the lock order of ``routing.services.assignment``) and load the
   context (``routing.engine.context``: a fixed number of queries).
3. For each event in order (conversation created, reopened, message received), the compiled rules of that
   trigger in position order: conditions explained for the trace; a matching rule runs its actions in order,
   each in a savepoint (a failing one is rolled back alone and recorded); "stop processing" ends the event.
4. Store the trace on the run.

Replies, e-mails and webhooks leave after commit (tasks / on-commit hooks), never inside the transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from crm.audit import audit_deferred_entries
from routing.engine.actions import ActionFailed, RunState, action_describe, action_run
from routing.engine.compiler import CompiledRule, explain
from routing.engine.context import Context, MessageFacts, context_load
from routing.engine.ruleset import RuleSet, rule_compile, ruleset
from routing.models import RoutingRun, RoutingState, Rule, Team, Trigger
from routing.services.sla import sla_customer_wrote
from social.models import Conversation, Message

logger = logging.getLogger(__name__)
# Rules that did not match are listed in the trace up to this many per event (the rest are counted): a
# thousand non-matching rules would make an unreadable trace and a large row.
TRACE_UNMATCHED = 30
# Actions whose records refer to the run (a partner webhook call): a run not written yet (a batch writes its
# runs at the end, ``routing_batch``) is written before they run.
RUN_FIRST = frozenset({"webhook"})


def _context_summary(ctx: Context) -> dict[str, Any]:
    return {
        "text": ctx.text[:300],
        "language": ctx.language,
        "sentiment": ctx.sentiment,
        "channel": f"{ctx.channel_name} ({ctx.channel_kind})",
        "first_message": ctx.first_message,
        "message_count": ctx.message_count,
        "contact": f"{ctx.contact_first_name} {ctx.contact_last_name}".strip(),
        "stage": ctx.contact_stage,
        "tags": sorted(ctx.contact_tags),
        "rfm_segment": ctx.rfm_segment,
        "status": ctx.status,
        "priority": ctx.priority,
        "labels": list(ctx.labels),
        "team": ctx.team,
        "at": ctx.now.isoformat(timespec="seconds"),
        **({"sla_kind": ctx.sla_kind} if ctx.sla_kind else {}),
    }


def _run_actions(rule: CompiledRule, state: RunState) -> tuple[list[dict[str, Any]], int]:
    results: list[dict[str, Any]] = []
    failed = 0
    audit_entries = audit_deferred_entries()
    for action in rule.actions:
        if action["type"] in RUN_FIRST and state.run is not None and state.run.pk is None:
            state.run.save()  # before the savepoint: a failing action must not take the run with it
        audited = len(audit_entries) if audit_entries is not None else 0
        try:
            with transaction.atomic():
                outcome = action_run(action, state)
            results.append({"action": action["type"], "ok": True, "outcome": outcome})
        except (ActionFailed, ValidationError) as exc:
            failed += 1
            text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            results.append({"action": action["type"], "ok": False, "error": text})
            _reload(state, audit_entries, audited)
        except Exception as exc:
            logger.exception("routing action %s of rule %s failed", action["type"], rule.id)
            failed += 1
            results.append({"action": action["type"], "ok": False, "error": f"{type(exc).__name__}: {exc}"})
            _reload(state, audit_entries, audited)
    return results, failed


def _reload(state: RunState, audit_entries: list[Any] | None, audited: int) -> None:
    """After a rolled-back action, the conversation is what the database says (not what the action set), the
    agent locks taken inside the savepoint may be gone with it (``assignment.Held``), and the audit entries
    of its changes (``crm.audit.audit_deferred``) are dropped."""
    fresh = Conversation.objects.select_related("channel").get(pk=state.conversation.pk)
    state.set_conversation(fresh)
    if state.ctx.held is not None:
        state.ctx.held.forget()
    if audit_entries is not None:
        del audit_entries[audited:]


def rules_evaluate(
    *,
    rules: RuleSet,
    events: Sequence[str],
    ctx: Context,
    conversation: Conversation,
    run: RoutingRun | None,
    only: frozenset[int] | None = None,
) -> tuple[dict[str, Any], int, int, Conversation]:
    """Run ``events`` through ``rules`` on ``ctx``: (trace, rules matched, actions failed, the conversation
    as the actions left it)."""
    trace: dict[str, Any] = {"context": _context_summary(ctx), "events": []}
    matched_count = failed_count = 0
    for event in events:
        ctx.event = event
        entry: dict[str, Any] = {"event": event, "evaluated": 0, "rules": [], "not_shown": 0}
        shown_unmatched = 0
        # Rules the index rules out (their channel kind, language, words … are not this message's) are
        # known not to match without evaluating them; they are listed like the others.
        candidates = rules.candidates(event, ctx)
        for position, rule in enumerate(rules.rules_for(event)):
            if only is not None and rule.id not in only:
                continue
            entry["evaluated"] += 1
            matched = (candidates is None or position in candidates) and rule.test(ctx)
            if not matched:
                if shown_unmatched >= TRACE_UNMATCHED:
                    entry["not_shown"] += 1
                    continue
                shown_unmatched += 1
            record: dict[str, Any] = {
                "rule_id": rule.id,
                "name": rule.name,
                "matched": matched,
                "match": rule.group.match,
                "conditions": explain(rule.group, ctx)["conditions"],
            }
            entry["rules"].append(record)
            if not matched:
                continue
            matched_count += 1
            state = RunState(ctx=ctx, conversation=conversation, rule=rule, event=event, run=run)
            record["actions"], failed = _run_actions(rule, state)
            conversation = state.conversation
            failed_count += failed
            if rule.stop:
                record["stopped"] = True
                break
        trace["events"].append(entry)
    return trace, matched_count, failed_count, conversation


def _claim(*, conversation_id: int, message_id: int | None, key: str | None) -> RoutingRun | None:
    try:
        with transaction.atomic():
            return RoutingRun.objects.create(conversation_id=conversation_id, message_id=message_id, key=key)
    except IntegrityError:
        return None


def _run(
    *,
    conversation_id: int,
    message_id: int | None,
    key: str | None,
    events_for: Callable[[Context, RoutingState | None, Conversation], list[str]],
    now: dt.datetime | None,
    only: frozenset[int] | None = None,
    sla_kind: str = "",
    rules: RuleSet | None = None,
    facts: MessageFacts | None = None,
) -> RoutingRun | None:
    started = time.perf_counter()
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        if conversation is None:
            return None
        run = _claim(conversation_id=conversation_id, message_id=message_id, key=key)
        if run is None:
            return None  # already routed
        rules = rules or ruleset()
        state = RoutingState.objects.filter(conversation_id=conversation_id).first()
        ctx = context_load(conversation_id=conversation_id, message_id=message_id, event="", facts=facts)
        if now is not None:
            ctx.now = now
        ctx.sla_kind = sla_kind
        events = events_for(ctx, state, conversation)
        trace, matched, failed, _ = rules_evaluate(
            rules=rules, events=events, ctx=ctx, conversation=conversation, run=run, only=only
        )
        run.events = events
        run.trace = trace
        run.rules_matched = matched
        run.actions_failed = failed
        run.duration_ms = round((time.perf_counter() - started) * 1000, 2)
        run.save(update_fields=["events", "trace", "rules_matched", "actions_failed", "duration_ms"])
    return run


def message_route(*, message_id: int, now: dt.datetime | None = None) -> RoutingRun | None:
    """Run the rules for an inbound message once; ``None`` when it was routed already (or is not inbound).

    Events: ``conversation_created`` when it is the conversation's first message, ``conversation_reopened``
    when it is the first customer message since the conversation was resolved, then ``message_received``.
    """
    row = (
        Message.objects.filter(pk=message_id, direction=Message.Direction.INBOUND, is_internal_note=False)
        .values_list("conversation_id", flat=True)
        .first()
    )
    if row is None:
        return None
    return message_route_loaded(message_id=message_id, conversation_id=row, now=now)


def message_route_loaded(
    *,
    message_id: int,
    conversation_id: int,
    now: dt.datetime | None = None,
    rules: RuleSet | None = None,
    facts: MessageFacts | None = None,
) -> RoutingRun | None:
    """``message_route`` for a message whose conversation (and, optionally, facts) the caller has read."""

    def events_for(ctx: Context, state: RoutingState | None, conversation: Conversation) -> list[str]:
        return message_events(ctx=ctx, state=state, conversation=conversation, message_id=message_id)

    return _run(
        conversation_id=conversation_id,
        message_id=message_id,
        key=f"message:{message_id}",
        events_for=events_for,
        now=now,
        rules=rules,
        facts=facts,
    )


def message_events(
    *, ctx: Context, state: RoutingState | None, conversation: Conversation, message_id: int
) -> list[str]:
    """The events of a message run (the conversation locked): ``conversation_created`` for the conversation's
    first message, ``conversation_reopened`` for the first customer message since it was resolved (the flag
    is cleared), then ``message_received``; the SLA clocks of a policy applied earlier start."""
    events = []
    if ctx.first_message:
        events.append(Trigger.CONVERSATION_CREATED.value)
    if state is not None and state.reopen_pending:
        if not ctx.first_message:
            events.append(Trigger.CONVERSATION_REOPENED.value)
        state.reopen_pending = False
        state.save(update_fields=["reopen_pending"])
    # SLA clocks of a policy applied earlier (the conversation is locked): next response, resolution.
    sla_customer_wrote(conversation=conversation, state=state, message_id=message_id)
    events.append(Trigger.MESSAGE_RECEIVED.value)
    return events


def rules_run(
    *,
    event: str,
    conversation_id: int,
    key: str | None = None,
    message_id: int | None = None,
    now: dt.datetime | None = None,
    sla_kind: str = "",
) -> RoutingRun | None:
    """Run the rules of one trigger (``sla_warning``, ``sla_breached``, ``conversation_idle`` …) on a
    conversation and record the run. ``key`` (unique) makes it happen once, e.g. ``sla_breached:<id>:<due>``;
    ``None`` when that key already ran or the conversation is gone. ``sla_kind``: for the SLA triggers, the
    clock's kind (the ``sla_kind`` condition)."""
    if event not in Trigger.values:
        raise ValueError(f"{event!r} is not a rule trigger")
    return _run(
        conversation_id=conversation_id,
        message_id=message_id,
        key=key,
        events_for=lambda _c, _s, _v: [event],
        now=now,
        sla_kind=sla_kind,
    )


def idle_rules_fire(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Scheduled every minute: fire each ``conversation_idle`` rule on the conversations idle for its minutes.

    Waiting for the agent: open or pending, the customer's last message at least N minutes ago and no reply
    (a non-note outbound message) since. Waiting for the customer: our last reply at least N minutes ago and
    no customer message since. Each rule runs alone on each conversation (a 30-minute rule does not fire a
    60-minute one early), once per idle stretch: the run key holds the rule, the conversation and its
    ``last_message_at``, so a new message starts a new stretch. At most ``limit`` conversations per rule
    per sweep (oldest first); the rest are picked up by the next sweeps. Returns how many runs matched.
    """
    now = now or timezone.now()
    rules = ruleset().rules_for(Trigger.CONVERSATION_IDLE)
    fired = 0
    for rule in rules:
        if rule.id is None or not rule.idle_minutes:
            continue
        cutoff = now - dt.timedelta(minutes=rule.idle_minutes)
        replies = Message.objects.filter(
            conversation_id=OuterRef("pk"), direction=Message.Direction.OUTBOUND, is_internal_note=False
        )
        waiting = Conversation.objects.filter(status__in=[Conversation.Status.OPEN, Conversation.Status.PENDING])
        if rule.idle_waiting_for == Rule.IdleWaitingFor.AGENT:
            idle = waiting.filter(last_inbound_at__lte=cutoff).exclude(
                Exists(replies.filter(created_at__gt=OuterRef("last_inbound_at")))
            )
        else:
            last_reply = Subquery(replies.order_by("-created_at").values("created_at")[:1])
            idle = (
                waiting.annotate(last_reply_at=last_reply)
                .filter(last_reply_at__lte=cutoff)
                .filter(Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=F("last_reply_at")))
            )
        candidates = list(idle.order_by("last_message_at", "pk").values_list("pk", "last_message_at")[:limit])
        for conversation_id, last_message_at in candidates:
            stamp = last_message_at.isoformat() if last_message_at else "never"
            run = _run(
                conversation_id=conversation_id,
                message_id=None,
                key=f"idle:{rule.id}:{conversation_id}:{stamp}",
                events_for=lambda _c, _s, _v: [Trigger.CONVERSATION_IDLE.value],
                now=now,
                only=frozenset({rule.id}),
            )
            if run is not None and run.rules_matched:
                fired += 1
    return fired


def rule_try(*, rule: Rule, ctx: Context) -> dict[str, Any]:
    """Evaluate ``rule`` (saved or not, active or not) against a sample context; changes nothing.

    Returns ``{"matched", "conditions" (explained), "actions" (what would run)}``.
    """
    team_names = dict(Team.objects.values_list("pk", "name"))
    compiled = rule_compile(rule, team_names)
    ctx.event = rule.trigger
    result = explain(compiled.group, ctx)
    return {
        "matched": result["passed"],
        "match": compiled.group.match,
        "conditions": result["conditions"],
        "actions": [action_describe(action, team_names) for action in compiled.actions],
        "stop": compiled.stop,
        "context": _context_summary(ctx),
    }
