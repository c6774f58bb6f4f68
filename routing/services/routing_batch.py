"""Routing the messages one drain stored together, a few transactions per batch (the ``route_messages`` task).

Routed one by one (``rules.message_route``), a message costs about fifteen queries before any rule acts:
the conversation's lock, the run's claim in a savepoint, its routing state, the context, the trace. Here
that work is shared by the messages of a transaction:

1. The messages, their place in their conversations and their contacts' tags (``message_facts_load``: two
   queries); the rule set (its version check).
2. A transaction takes up to ``MESSAGES_PER_TRANSACTION`` messages. It locks all their conversations at
   once, in primary-key order: the lock order of ``routing.services.assignment`` is conversations before
   agents, and a transaction takes all of its conversations before any action locks an agent, so two
   batches (or a batch and a queue drain) cannot deadlock. The runs already recorded are skipped (one
   query: a task run twice routes nothing twice); the routing states and the conversations' rows are read
   with one query each.
3. Each message in order, exactly as ``message_route`` does it: events, rules, each action in its own
   savepoint. A later message of the same conversation sees the conversation as the earlier ones left it.
   The transaction ends early once its rules ran ``ACTIONS_PER_TRANSACTION`` actions; the next one
   carries on. What the actions share within the transaction: the agents of a team, locked by its first
   assignment, with their loads (``assignment.Held``); the audit entries of their changes, written
   together at the end (``crm.audit.audit_deferred``; a failed action's are dropped with its savepoint).
   Business hours and the teams the actions name are read once per task.
4. The runs are written with one insert (a run an action refers to, before that action).

Anything failing outside an action's savepoint (a lost connection, a deadlock) rolls the transaction back;
its messages are then routed one at a time, so one bad message cannot hold the others back.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from crm.audit import audit_deferred
from crm.services.bulk_sql import insert_rows, update_rows
from routing.engine.context import (
    MessageFacts,
    context_from,
    conversation_row_after,
    conversation_rows,
    message_facts_load,
)
from routing.engine.ruleset import RuleSet, ruleset
from routing.hours import Calendar
from routing.models import RoutingRun, RoutingState
from routing.services.assignment import Held
from routing.services.rules import message_events, message_route_loaded, rules_evaluate
from social.models import Conversation

logger = logging.getLogger(__name__)

_TRACE_FIELDS = ["events", "trace", "rules_matched", "actions_failed", "duration_ms"]


def messages_route(*, message_ids: Sequence[int]) -> int:
    """Run the rules once for each stored inbound message of ``message_ids``, in order; returns how many
    were routed now (the others were routed before, or are not inbound customer messages)."""
    found = message_facts_load(message_ids)
    rules = ruleset()
    batch = [(message_id, *found[message_id]) for message_id in dict.fromkeys(message_ids) if message_id in found]
    routed = 0
    shared = _Shared()
    while batch:
        try:
            consumed, routed_now = _route_together(batch[:MESSAGES_PER_TRANSACTION], rules, shared)
        except Exception:
            consumed = min(len(batch), MESSAGES_PER_TRANSACTION)
            logger.exception("routing: a batch of %d messages failed; routing them one by one", consumed)
            routed_now = 0
            for message_id, conversation_id, facts in batch[:consumed]:
                run = message_route_loaded(
                    message_id=message_id, conversation_id=conversation_id, rules=rules, facts=facts
                )
                routed_now += run is not None
        routed += routed_now
        batch = batch[consumed:]
    return routed


# One transaction routes at most this many messages, and ends early once its rules ran this many actions.
# Each action runs in a savepoint; the services it calls under the conversation's lock open none of their
# own, except an action that changes the status or applies an SLA policy (up to two more). PostgreSQL keeps
# the first 64 subtransactions of a transaction in shared memory, and past that every other session's
# snapshot has to look them up on disk ("subtransaction overflow"), which slows the whole database down:
# 20 actions stay below that even if all were of those kinds. Measured with the routing bench (Redis, one
# run each): 15 actions 117 msg/s, 30 actions 127 msg/s.
MESSAGES_PER_TRANSACTION = 50
ACTIONS_PER_TRANSACTION = 20


@dataclass
class _Shared:
    """What the transactions of one task read once: the business hours compiled and the teams the actions
    name (each context keeps its own answers about them). A team or hours changed while a task runs (it
    lasts a second or so) are seen from the next task on."""

    calendars: dict[str, Calendar] = field(default_factory=dict)
    calendars_loaded: set[str] = field(default_factory=set)
    teams: dict[int, Any] = field(default_factory=dict)


def _route_together(window: list[tuple[int, int, MessageFacts]], rules: RuleSet, shared: _Shared) -> tuple[int, int]:
    """Route the messages of ``window`` in one transaction, in order, until ``ACTIONS_PER_TRANSACTION``;
    returns (how many of ``window`` are done, how many were routed now)."""
    conversation_ids = sorted({conversation_id for _, conversation_id, _ in window})
    with transaction.atomic(), audit_deferred():
        conversations = {
            conversation.pk: conversation
            for conversation in Conversation.objects.select_for_update(of=("self",))
            .select_related("channel")
            .filter(pk__in=conversation_ids)
            .order_by("pk")
        }
        keys = {message_id: f"message:{message_id}" for message_id, _, _ in window}
        routed_before = set(RoutingRun.objects.filter(key__in=list(keys.values())).values_list("key", flat=True))
        todo = [
            (position, item)
            for position, item in enumerate(window)
            if item[1] in conversations and keys[item[0]] not in routed_before
        ]
        # Written at the end (or before an action that refers to it, ``rules.RUN_FIRST``): the conversations'
        # locks keep any other worker from routing these messages meanwhile, the unique key backs them up.
        runs = [
            RoutingRun(conversation_id=conversation_id, message_id=message_id, key=keys[message_id])
            for _, (message_id, conversation_id, _) in todo
        ]
        states = {
            state.conversation_id: state for state in RoutingState.objects.filter(conversation_id__in=conversation_ids)
        }
        rows = conversation_rows(conversation_ids)
        held = Held()  # the teams whose agents this transaction locks (assignment)
        later = Counter(conversation_id for _, (_, conversation_id, _) in todo)
        done, actions = 0, 0
        for (_, (message_id, conversation_id, facts)), run in zip(todo, runs, strict=True):
            started = time.perf_counter()
            ctx = context_from(rows[conversation_id], message_id=message_id, facts=facts, event="")
            ctx.calendars, ctx.calendars_loaded, ctx.teams = shared.calendars, shared.calendars_loaded, shared.teams
            ctx.held = held
            conversation = conversations[conversation_id]
            events = message_events(
                ctx=ctx, state=states.get(conversation_id), conversation=conversation, message_id=message_id
            )
            run.trace, run.rules_matched, run.actions_failed, conversation = rules_evaluate(
                rules=rules, events=events, ctx=ctx, conversation=conversation, run=run
            )
            run.events = events
            run.duration_ms = round((time.perf_counter() - started) * 1000, 2)
            done += 1
            actions += _actions_run(run.trace)
            if actions >= ACTIONS_PER_TRANSACTION:
                break
            later[conversation_id] -= 1
            if run.rules_matched and later[conversation_id]:
                # The conversation as the actions left it is what its next message in the batch sees.
                conversations[conversation_id] = conversation
                rows[conversation_id] = conversation_row_after(rows[conversation_id], conversation)
                state = RoutingState.objects.filter(conversation_id=conversation_id).first()
                if state is not None:
                    states[conversation_id] = state
        written_early = [run for run in runs[:done] if run.pk is not None]
        insert_rows([run for run in runs[:done] if run.pk is None])
        update_rows(written_early, _TRACE_FIELDS)
    consumed = todo[done][0] if done < len(todo) else len(window)
    return consumed, done


def _actions_run(trace: dict[str, Any]) -> int:
    return sum(len(rule.get("actions", ())) for event in trace["events"] for rule in event["rules"])
