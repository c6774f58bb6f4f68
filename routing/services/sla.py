"""SLA clocks: started when a policy applies, met by replies and resolution, swept for warnings and breaches.

A clock (``ConversationSla``) is due ``target`` business minutes after it started, counted on the
conversation team's calendar (the default hours otherwise; always open without any hours):

- first response: from the conversation's creation until the first staff reply;
- next response: from the first customer message after a staff reply until the next staff reply;
- resolution: from the creation (or the reopening) until the conversation is resolved.

Resolving meets every open clock (the customer's matter is closed). A change of priority or team
recomputes the due times of the open clocks that have not breached yet. Bot/system replies and internal
notes meet nothing. ``sla_sweep`` (scheduled every minute) records warnings and breaches and fires the
``sla_warning`` / ``sla_breached`` rules once per clock (the run key ``sla_breached:<clock id>``).

Lock order, as everywhere in routing: the conversation's row first, then the clocks.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from routing.engine.context import ALWAYS_OPEN, Context
from routing.hours import Calendar, NeverOpen, add_business_minutes
from routing.models import ConversationSla, RoutingState, SlaPolicy, Team, Trigger
from social.models import Conversation, Message

logger = logging.getLogger(__name__)
Kind = ConversationSla.Kind


def _calendar(team: str) -> Calendar:
    return Context(team=team).calendar(None)


def _due(calendar: Calendar, start: dt.datetime, minutes: float) -> dt.datetime:
    try:
        return add_business_minutes(calendar, start, minutes)
    except NeverOpen:
        # Hours that never open would hold the clock forever; count wall-clock time instead.
        return add_business_minutes(ALWAYS_OPEN, start, minutes)


def _schedule(clock: ConversationSla, calendar: Calendar) -> None:
    """Set ``due_at`` and ``warn_at`` from the clock's start, target and policy."""
    clock.due_at = _due(calendar, clock.started_at, clock.target_minutes)
    warn_after = clock.policy.warning_after(clock.target_minutes)
    clock.warn_at = _due(calendar, clock.started_at, warn_after) if warn_after is not None else None


def _start(
    *, conversation: Conversation, policy: SlaPolicy, kind: str, started_at: dt.datetime, calendar: Calendar
) -> ConversationSla | None:
    target = policy.target(kind, conversation.priority)
    if target is None:
        return None
    clock = ConversationSla(
        conversation=conversation,
        policy=policy,
        kind=kind,
        priority=conversation.priority,
        team=conversation.team,
        target_minutes=target,
        started_at=started_at,
    )
    _schedule(clock, calendar)
    clock.save()
    return clock


def _last_staff_reply(conversation_id: int) -> dt.datetime | None:
    return (
        Message.objects.filter(
            conversation_id=conversation_id,
            direction=Message.Direction.OUTBOUND,
            sender_type=Message.SenderType.STAFF,
            is_internal_note=False,
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def _first_inbound_after(conversation_id: int, after: dt.datetime | None) -> dt.datetime | None:
    messages = Message.objects.filter(conversation_id=conversation_id, direction=Message.Direction.INBOUND)
    if after is not None:
        messages = messages.filter(created_at__gt=after)
    return messages.order_by("created_at").values_list("created_at", flat=True).first()


def sla_apply(
    *, conversation: Conversation, policy: SlaPolicy, now: dt.datetime | None = None
) -> list[ConversationSla]:
    """Apply ``policy`` to ``conversation`` (locked by the caller): record it on the routing state, move the
    open clocks of another policy to this one (due times recomputed) and start the clocks that should be
    running now. Returns the clocks started. An inactive policy is refused (``ValueError``)."""
    if not policy.is_active:
        raise ValueError(f"the SLA policy “{policy}” is inactive")
    now = now or timezone.now()
    with transaction.atomic():
        state, _ = RoutingState.objects.get_or_create(conversation_id=conversation.pk)
        if state.sla_policy_id != policy.pk:
            state.sla_policy_id = policy.pk
            state.sla_applied_at = now
            state.save(update_fields=["sla_policy_id", "sla_applied_at"])
        calendar = _calendar(conversation.team)
        open_clocks = {c.kind: c for c in ConversationSla.objects.filter(conversation=conversation, met_at=None)}
        for clock in open_clocks.values():
            if clock.policy_id != policy.pk and clock.breached_at is None:
                clock.policy = policy
                _recompute(clock, conversation, calendar)
        if conversation.status == Conversation.Status.RESOLVED:
            return []
        started = []
        last_reply = _last_staff_reply(conversation.pk)
        wanted: list[tuple[str, dt.datetime | None]] = []
        if last_reply is None and conversation.first_response_at is None:
            wanted.append((Kind.FIRST_RESPONSE, conversation.created_at))
        else:
            wanted.append((Kind.NEXT_RESPONSE, _first_inbound_after(conversation.pk, last_reply)))
        last_resolution = (
            ConversationSla.objects.filter(conversation=conversation, kind=Kind.RESOLUTION)
            .exclude(met_at=None)
            .order_by("-met_at")
            .values_list("met_at", flat=True)
            .first()
        )
        reopened_at = _first_inbound_after(conversation.pk, last_resolution) if last_resolution else None
        wanted.append((Kind.RESOLUTION, reopened_at or conversation.created_at))
        for kind, started_at in wanted:
            if started_at is None or kind in open_clocks:
                continue
            new_clock = _start(
                conversation=conversation, policy=policy, kind=kind, started_at=started_at, calendar=calendar
            )
            if new_clock is not None:
                started.append(new_clock)
    return started


def _recompute(clock: ConversationSla, conversation: Conversation, calendar: Calendar) -> None:
    target = clock.policy.target(clock.kind, conversation.priority)
    if target is None:
        # No target at the new priority: the clock stops (met now, so it neither warns nor breaches).
        clock.met_at = timezone.now()
        clock.save(update_fields=["met_at"])
        return
    clock.priority, clock.team, clock.target_minutes = conversation.priority, conversation.team, target
    _schedule(clock, calendar)
    # A clock warns once (the run key is per clock): a recomputed clock that warned already does not again.
    clock.save(update_fields=["policy", "priority", "team", "target_minutes", "due_at", "warn_at"])


def sla_recompute(*, conversation: Conversation) -> int:
    """After a priority or team change: recompute the open clocks that have not breached; returns how many."""
    clocks = list(
        ConversationSla.objects.select_related("policy").filter(
            conversation_id=conversation.pk, met_at=None, breached_at=None
        )
    )
    changed = [c for c in clocks if c.priority != conversation.priority or c.team != conversation.team]
    if changed:
        calendar = _calendar(conversation.team)
        for clock in changed:
            _recompute(clock, conversation, calendar)
    return len(changed)


_POLICY_FACTS = (
    f"SELECT EXISTS (SELECT 1 FROM {RoutingState._meta.db_table} WHERE conversation_id = %s"  # noqa: S608 - names
    " AND sla_policy_id IS NOT NULL), "  # from _meta, values are parameters
    f"(SELECT sla_policy_id FROM {Team._meta.db_table} WHERE name = %s)"
)


def sla_conversation_changed(*, conversation: Conversation, team_changed: bool) -> None:
    """After a change of priority or team (``team_changed``) of an unresolved conversation: recompute its open
    clocks, and after a team change give it the team's default policy if it has none yet.

    Clocks exist only once a policy was applied (``sla_apply`` records it on the routing state), so one query
    tells whether there is anything to do: most conversations have no policy and a team without one."""
    # Written out: this runs on every assignment, and building it with the ORM took longer than running it.
    with connection.cursor() as cursor:
        cursor.execute(_POLICY_FACTS, [conversation.pk, conversation.team])
        has_policy, team_policy = cursor.fetchone()
    if has_policy:
        sla_recompute(conversation=conversation)
    elif team_changed and conversation.team and team_policy is not None:
        policy = SlaPolicy.objects.filter(pk=team_policy, is_active=True).first()
        if policy is not None:
            sla_apply(conversation=conversation, policy=policy)


def sla_staff_replied(*, conversation_id: int, at: dt.datetime) -> int:
    """A staff reply meets the open first- and next-response clocks; returns how many."""
    return ConversationSla.objects.filter(
        conversation_id=conversation_id, kind__in=[Kind.FIRST_RESPONSE, Kind.NEXT_RESPONSE], met_at=None
    ).update(met_at=at)


def sla_resolved(*, conversation_id: int, at: dt.datetime) -> int:
    """Resolving meets every open clock; returns how many."""
    return ConversationSla.objects.filter(conversation_id=conversation_id, met_at=None).update(met_at=at)


def sla_customer_wrote(*, conversation: Conversation, state: RoutingState | None, message_id: int) -> None:
    """A customer message on a conversation with a policy (routing's run, conversation locked): start the
    next-response clock when we had replied, and the resolution clock after a reopening."""
    if state is None or state.sla_policy_id is None:
        return
    policy = SlaPolicy.objects.filter(pk=state.sla_policy_id, is_active=True).first()
    if policy is None:
        return
    at = Message.objects.filter(pk=message_id).values_list("created_at", flat=True).first() or timezone.now()
    open_kinds = set(
        ConversationSla.objects.filter(conversation=conversation, met_at=None).values_list("kind", flat=True)
    )
    wanted = []
    if Kind.RESOLUTION not in open_kinds:
        wanted.append(Kind.RESOLUTION)
    if not open_kinds & {Kind.FIRST_RESPONSE, Kind.NEXT_RESPONSE} and (
        conversation.first_response_at is not None or _last_staff_reply(conversation.pk) is not None
    ):
        wanted.append(Kind.NEXT_RESPONSE)
    wanted = [kind for kind in wanted if policy.target(kind, conversation.priority) is not None]
    if not wanted:
        return
    calendar = _calendar(conversation.team)
    for kind in wanted:
        clock = _start(conversation=conversation, policy=policy, kind=kind, started_at=at, calendar=calendar)
        if clock is None or kind != Kind.NEXT_RESPONSE:
            continue
        # The task may run late: a staff reply sent after this message already meets the new clock.
        last_reply = _last_staff_reply(conversation.pk)
        if last_reply is not None and last_reply > at:
            clock.met_at = last_reply
            clock.save(update_fields=["met_at"])


def _fire(*, clock_id: int, field: str, event: str, now: dt.datetime) -> bool:
    """Record a warning or a breach on one clock and run its rules, once (two sweeps may race).

    The conversation is locked first (routing's lock order), then the clock is claimed by a conditional
    update: the second sweep waits for the first one's commit, then updates nothing and fires nothing.
    """
    from routing.services.rules import rules_run

    with transaction.atomic():
        conversation_id = ConversationSla.objects.filter(pk=clock_id).values_list("conversation_id", flat=True).first()
        if conversation_id is None or not Conversation.objects.select_for_update().filter(pk=conversation_id).exists():
            return False
        clock = ConversationSla.objects.filter(pk=clock_id).first()
        if clock is None or clock.met_at is not None or getattr(clock, field) is not None:
            return False
        when = clock.due_at if field == "breached_at" else now
        claimed = (
            ConversationSla.objects.filter(pk=clock_id, met_at=None, **{f"{field}__isnull": True})
            .update(**{field: min(when, now)})
        )  # fmt: skip
        if not claimed:
            return False
        rules_run(event=event, conversation_id=conversation_id, key=f"{event}:{clock_id}", now=now, sla_kind=clock.kind)
    return True


def sla_sweep(*, now: dt.datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Scheduled every minute: warn the open clocks past their warning time and breach those past their due
    time, oldest first, at most ``limit`` of each per sweep. Returns ``{"warned": n, "breached": n}``."""
    now = now or timezone.now()
    breached_ids = list(
        ConversationSla.objects.filter(met_at=None, breached_at=None, due_at__lte=now)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    warn_ids = list(
        ConversationSla.objects.filter(met_at=None, warned_at=None, breached_at=None, warn_at__lte=now, due_at__gt=now)
        .order_by("warn_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    counts = {"warned": 0, "breached": 0}
    for clock_id in warn_ids:
        counts["warned"] += _fire(clock_id=clock_id, field="warned_at", event=Trigger.SLA_WARNING, now=now)
    for clock_id in breached_ids:
        counts["breached"] += _fire(clock_id=clock_id, field="breached_at", event=Trigger.SLA_BREACHED, now=now)
    return counts


def sla_breach_report(*, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    """Breaches in ``[since, until)`` per team, policy and kind, with the clocks due in the window.

    ``rows``: ``{"team", "policy", "kind", "due", "breached", "met_late", "rate"}`` sorted by breaches.
    """
    due = (
        ConversationSla.objects.filter(due_at__gte=since, due_at__lt=until)
        .values("team", "policy__name", "kind")
        .annotate(
            due=Count("id"),
            breached=Count("id", filter=Q(breached_at__isnull=False)),
            met_late=Count("id", filter=Q(breached_at__isnull=False, met_at__isnull=False)),
        )
    )
    rows = [
        {
            "team": row["team"] or "(no team)",
            "policy": row["policy__name"],
            "kind": Kind(row["kind"]).label,
            "due": row["due"],
            "breached": row["breached"],
            "met_late": row["met_late"],
            "rate": round(100 * row["breached"] / row["due"], 1) if row["due"] else 0.0,
        }
        for row in due
    ]
    rows.sort(key=lambda r: (-r["breached"], r["team"], r["policy"], r["kind"]))
    return {
        "rows": rows,
        "due": sum(r["due"] for r in rows),
        "breached": sum(r["breached"] for r in rows),
    }
