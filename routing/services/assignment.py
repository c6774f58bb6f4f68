"""Assignment: route a conversation to a team, choose an agent with room, queue it when nobody has any.

Capacity is never exceeded, also when conversations arrive at the same time, because of one lock order:

1. **the conversation's row first**, then 2. **the ``AgentProfile`` rows of every member of the team, in
   primary-key order**, all in one transaction; the agents' open conversations are counted only after
   those locks are held, and the assignment is written before they are released (at commit).

Two assignments to one team therefore run one after the other; an agent in two teams is locked by both,
so they serialise on that agent. Nothing here locks a conversation after an agent, so the order cannot
deadlock. Staff assigning a conversation by hand (``social.services.conversations.conversation_assign``)
are not limited: capacity governs automatic routing, a person may overrule it.

"Open conversations" are the agent's conversations in any status but resolved (pending and snoozed ones
still belong to them), counted in one aggregate query per assignment (``agent_loads``).

A transaction that assigns many conversations (routing's batch) passes a ``Held``: the first assignment to a
team locks its members and counts their loads, the later ones in the same transaction reuse both and keep
the counts up to date themselves (one count per agent, shared by all the agent's teams). No other routing
can assign to those agents before the commit: their rows stay locked. A rolled-back savepoint may release
locks taken inside it, and reopening a conversation raises its agent's load outside these counts, so the
caller forgets everything held after either (``Held.forget``). What other transactions commit meanwhile
without the agents' locks is seen by the next transaction's count, not by this one: resolving and unassigning
(a load goes down), and the two ways a load goes up without routing (staff assigning by hand, a customer
reopening a resolved conversation, which keeps its agent); neither is limited by capacity anyway.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from crm.models import User
from routing.hours import is_open
from routing.models import AgentProfile, QueueEntry, Team, TeamMembership
from routing.models.teams import Strategy
from routing.services.hours import team_calendar
from social.models import Conversation
from social.services.conversations import conversation_assign


@dataclass(frozen=True)
class Load:
    """An agent's open conversations: overall and per channel kind."""

    total: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Pick:
    agent: AgentProfile
    reason: str


@dataclass(frozen=True)
class Outcome:
    """What routing did with a conversation; ``reason`` is a sentence for the trace and the admin."""

    conversation: Conversation
    agent: AgentProfile | None
    queued: bool
    reason: str
    # No online member has any overall room left: draining this team's queue can stop.
    team_full: bool = False
    # Queued behind this many older conversations of the team although an agent had room (oldest first).
    behind: int = 0


@dataclass
class Held:
    """The teams whose members the current transaction has locked, and those agents' loads (see the module
    docstring): one count per agent, whichever of their teams it was read or changed through. Valid until
    the transaction ends, or until a savepoint rolls back or anything else in it may have raised a load
    (a conversation reopened): then ``forget``."""

    members: dict[int, list[AgentProfile]] = field(default_factory=dict)  # by team id; locked
    loads: dict[int, Load] = field(default_factory=dict)  # online members' open conversations by user id

    def forget(self) -> None:
        self.members.clear()
        self.loads.clear()

    def count(self, conversation: Conversation, step: int) -> None:
        """``conversation`` counts ``step`` (+1/-1) more for its assignee (see ``_counted``)."""
        self.loads = _counted(self.loads, conversation, step)


@dataclass(frozen=True)
class _Candidate:
    agent: AgentProfile
    load: Load
    last_assigned_at: dt.datetime | None
    kind_limit: int | None

    @property
    def ratio(self) -> float:
        return self.load.total / self.agent.capacity

    @property
    def rotation(self) -> tuple[bool, dt.datetime, int]:
        """Round-robin order: never assigned first, then longest ago; the primary key breaks ties."""
        never = self.last_assigned_at is None
        return (not never, self.last_assigned_at or dt.datetime.min.replace(tzinfo=dt.UTC), self.agent.pk)


def agent_loads(user_ids: Iterable[int], *, excluding: int | None = None) -> dict[int, Load]:
    """Open conversations per user id (and per channel kind), in one aggregate query.

    ``excluding``: a conversation not to count (the one being routed, so that re-routing it to its
    current assignee does not count it twice).
    """
    conversations = Conversation.objects.filter(assignee_id__in=list(user_ids)).exclude(
        status=Conversation.Status.RESOLVED
    )
    if excluding is not None:
        conversations = conversations.exclude(pk=excluding)
    rows = conversations.values("assignee_id", "channel__kind").annotate(n=Count("id")).order_by()
    loads: dict[int, dict[str, int]] = {}
    for row in rows:
        loads.setdefault(row["assignee_id"], {})[row["channel__kind"]] = row["n"]
    return {user_id: Load(total=sum(kinds.values()), by_kind=kinds) for user_id, kinds in loads.items()}


def _members(team: Team, *, lock: bool) -> list[AgentProfile]:
    """The team's agent profiles with their users, in primary-key order, each with ``last_assigned_at`` (in
    this team: the round-robin cursor) from the membership row the filter joins."""
    profiles = (
        AgentProfile.objects.filter(memberships__team=team)
        .annotate(last_assigned_at=F("memberships__last_assigned_at"))
        .select_related("user")
        .order_by("pk")
    )
    if lock:
        # ``of=("self",)``: lock the profile rows only, not the users joined for their names.
        profiles = profiles.select_for_update(of=("self",))
    return list(profiles)


def _online(members: Sequence[AgentProfile]) -> list[AgentProfile]:
    return [
        m
        for m in members
        if m.availability == AgentProfile.Availability.ONLINE and m.user.is_active and m.user.is_staff
    ]


def _counted(loads: dict[int, Load], conversation: Conversation, step: int) -> dict[int, Load]:
    """``loads`` with ``conversation`` counted ``step`` (+1/-1) more for its assignee (if open and counted)."""
    user_id = conversation.assignee_id
    if user_id is None or user_id not in loads or conversation.status == Conversation.Status.RESOLVED:
        return loads
    kind = conversation.channel.kind
    load = loads[user_id]
    by_kind = {**load.by_kind, kind: load.by_kind.get(kind, 0) + step}
    return {**loads, user_id: Load(total=load.total + step, by_kind=by_kind)}


def _held_members(team: Team, held: Held) -> list[AgentProfile]:
    """``team``'s members, locked once per transaction, with the loads of those not counted yet."""
    if team.pk not in held.members:
        members = _members(team, lock=True)
        new = [m.user_id for m in _online(members) if m.user_id not in held.loads]
        counted = agent_loads(new) if new else {}
        held.loads.update({user_id: counted.get(user_id, Load()) for user_id in new})
        held.members[team.pk] = members
    return held.members[team.pk]


def _candidates(
    *, conversation: Conversation, members: Sequence[AgentProfile], loads: dict[int, Load] | None = None
) -> tuple[list[_Candidate], list[_Candidate]]:
    """(online members with room for this conversation, online members with any overall room); ``members``
    as ``_members`` reads them. ``loads``: as ``Held`` keeps them (this conversation counted too), else
    counted now without it."""
    online = _online(members)
    if loads is not None:
        loads = _counted(loads, conversation, -1)
    else:
        loads = agent_loads([m.user_id for m in online], excluding=conversation.pk) if online else {}
    kind = conversation.channel.kind
    with_room: list[_Candidate] = []
    any_room: list[_Candidate] = []
    for member in online:
        load = loads.get(member.user_id, Load())
        rotation = member.last_assigned_at  # type: ignore[attr-defined]  # annotated by _members
        candidate = _Candidate(member, load, rotation, member.capacity_for(kind))
        if load.total >= member.capacity:
            continue
        any_room.append(candidate)
        if candidate.kind_limit is None or load.by_kind.get(kind, 0) < candidate.kind_limit:
            with_room.append(candidate)
    return with_room, any_room


def _last_served_by(conversation: Conversation) -> int | None:
    """The user who was last assigned one of the contact's other conversations (most recent activity)."""
    return (
        Conversation.objects.filter(contact_id=conversation.contact_id, assignee__isnull=False)
        .exclude(pk=conversation.pk)
        .order_by(F("last_message_at").desc(nulls_last=True), "-pk")
        .values_list("assignee_id", flat=True)
        .first()
    )


def _least_loaded(candidates: list[_Candidate]) -> Pick:
    best = min(candidates, key=lambda c: (c.ratio, c.load.total, c.rotation))
    return Pick(best.agent, f"least loaded: {best.load.total}/{best.agent.capacity} open")


def _choose(
    candidates: list[_Candidate],
    *,
    strategy: str,
    conversation: Conversation,
    skills: Sequence[str],
    language: str,
) -> Pick:
    if strategy == Strategy.ROUND_ROBIN:
        best = min(candidates, key=lambda c: c.rotation)
        when = f"last assigned {best.last_assigned_at:%Y-%m-%d %H:%M}" if best.last_assigned_at else "never assigned"
        return Pick(best.agent, f"round robin: longest without a new conversation ({when})")
    if strategy == Strategy.SKILLS:
        wanted = [s.strip().lower() for s in skills if s.strip()]

        def score(c: _Candidate) -> tuple[int, int]:
            speaks = int(bool(language) and language in c.agent.languages)
            return speaks, sum(1 for s in wanted if s in c.agent.skills)

        best = min(candidates, key=lambda c: (-score(c)[0], -score(c)[1], c.ratio, c.load.total, c.rotation))
        speaks, matched = score(best)
        parts = [f"skills match: {matched}/{len(wanted)}" + (f" ({', '.join(wanted)})" if wanted else "")]
        if language:
            parts.append(f"language {language}: {'yes' if speaks else 'no'}")
        parts.append(f"{best.load.total}/{best.agent.capacity} open")
        return Pick(best.agent, "; ".join(parts))
    if strategy == Strategy.STICKY:
        last = _last_served_by(conversation)
        for candidate in candidates:
            if candidate.agent.user_id == last:
                return Pick(
                    candidate.agent,
                    f"sticky: served this contact last; {candidate.load.total}/{candidate.agent.capacity} open",
                )
        fallback = _least_loaded(candidates)
        why = "nobody served this contact before" if last is None else "the last agent is not available or full"
        return Pick(fallback.agent, f"sticky: {why}; {fallback.reason}")
    return _least_loaded(candidates)


def _strategy(strategy: str | None, team: Team) -> str:
    chosen = strategy or team.strategy
    if chosen not in Strategy.values:
        raise ValidationError({"strategy": f"{chosen!r} is not an assignment strategy"})
    return chosen


def agent_pick(
    *,
    team: Team,
    conversation: Conversation,
    strategy: str | None = None,
    skills: Sequence[str] | None = None,
    language: str | None = None,
) -> Pick | None:
    """The online member of ``team`` with room for ``conversation`` that ``strategy`` prefers, or ``None``.

    An agent has room when their open conversations are below their capacity and, when they have a limit
    for the conversation's channel kind, below that too. Strategies (``Strategy``):

    - round robin: the member whose last assignment in this team is longest ago (never first);
    - least loaded: the lowest open/capacity ratio, then fewest open, then round-robin order;
    - skills: speaks the language (default: the contact's preferred language) first, then most of the
      wanted skills (default: the conversation's labels), then least loaded. It is a *best* match: a
      conversation is never kept waiting while an agent without the skill has room (for a strict match,
      make a team of the agents who have the skill and route to that team); languages compare exactly;
    - sticky: the agent who last served the contact, if online, a member and with room; else least loaded.

    The answer is advisory (nothing is locked): loads may change before anyone acts on it;
    ``conversation_assign_agent`` chooses the same way under the agents' locks.
    """
    chosen = _strategy(strategy, team)
    members = _members(team, lock=False)
    with_room, _ = _candidates(conversation=conversation, members=members)
    if not with_room:
        return None
    return _choose(
        with_room,
        strategy=chosen,
        conversation=conversation,
        skills=list(conversation.labels or []) if skills is None else list(skills),
        language=(language if language is not None else conversation.contact.preferred_language or "").lower(),
    )


def conversation_assign_agent(
    *,
    conversation: Conversation,
    team: Team,
    strategy: str | None = None,
    agent: AgentProfile | None = None,
    skills: Sequence[str] | None = None,
    language: str | None = None,
    actor: User | None = None,
    only_if_queued: bool = False,
    already_locked: bool = False,
    held: Held | None = None,
) -> Outcome:
    """Give ``conversation`` to an agent of ``team`` with room, or put it in the team's queue.

    1. Lock the conversation, then the team members' agent profiles in primary-key order (see the module
       docstring); a resolved conversation is not routed (and leaves any queue).
    2. Read its queue entry and how many conversations wait ahead of it, under those locks.
    3. Count their open conversations and choose: ``agent`` if given (a member; only if they have room),
       else by ``strategy`` (default: the team's).
    4. Assign (team name and assignee, through social's ``conversation_assign``), move the member's
       round-robin cursor and take the conversation out of any queue; or, when nobody has room, unassign it
       and queue it in ``team`` (keeping the time it started waiting if it was queued elsewhere).

    ``only_if_queued``: do nothing unless the conversation is still waiting in ``team``'s queue (used by
    draining, which reads the queue before taking the locks).

    ``already_locked`` (a routing action): ``conversation`` is the row (with its channel) as the caller read
    it after locking it in the current transaction, and the caller's savepoint covers this call. ``held``:
    the team locks this transaction holds (see the module docstring).
    """
    chosen = _strategy(strategy, team)
    if agent is not None and not TeamMembership.objects.filter(team=team, agent=agent).exists():
        raise ValidationError({"agent": f"{agent} is not a member of the team {team}."})
    with transaction.atomic(savepoint=not already_locked):
        locked = (
            conversation
            if already_locked
            else Conversation.objects.select_for_update(of=("self",))
            .select_related("channel", "contact")
            .get(pk=conversation.pk)
        )
        members = _held_members(team, held) if held is not None else _members(team, lock=True)
        # Read under the team's locks (see "oldest first" below).
        entry, ahead = _queue_facts(locked, team)
        if only_if_queued and (entry is None or entry.team_id != team.pk):
            return Outcome(locked, None, queued=False, reason="no longer waiting in this queue")
        if locked.status == Conversation.Status.RESOLVED:
            if entry is not None:
                entry.delete()
            return Outcome(locked, None, queued=False, reason="resolved: not routed")
        with_room, any_room = _candidates(
            conversation=locked, members=members, loads=held.loads if held is not None else None
        )
        if with_room and agent is None and not only_if_queued:
            # Oldest first also against newcomers: counted under the team's locks, so a drain in progress
            # and a new conversation cannot both take the place an older conversation is waiting for.
            behind = ahead
            if behind:
                outcome = _enqueue(locked, team=team, entry=entry, actor=actor, team_full=False, agent=None, held=held)
                return replace(
                    outcome,
                    behind=behind,
                    reason=f"queued behind {behind} older conversation(s); the queue is served oldest first",
                )
        if agent is not None:
            with_room = [c for c in with_room if c.agent.pk == agent.pk]
        pick = (
            _choose(
                with_room,
                strategy=chosen,
                conversation=locked,
                skills=list(locked.labels or []) if skills is None else list(skills),
                language=(language if language is not None else locked.contact.preferred_language or "").lower(),
            )
            if with_room
            else None
        )
        if agent is not None and pick is not None:
            pick = Pick(pick.agent, f"named agent; {pick.agent.user.username} has room")
        if pick is None:
            return _enqueue(locked, team=team, entry=entry, actor=actor, team_full=not any_room, agent=agent, held=held)
        if held is not None:
            held.count(locked, -1)
        assigned = conversation_assign(
            conversation=locked, assignee=pick.agent.user, team=team.name, actor=actor, already_locked=True
        )
        now = timezone.now()
        with connection.cursor() as cursor:  # written out: the ORM's update cost more than the statement
            cursor.execute(_CURSOR_MOVE, [now, team.pk, pick.agent.pk])
        if held is not None:
            pick.agent.last_assigned_at = now  # type: ignore[attr-defined]  # the round-robin cursor
            held.count(assigned, +1)
        if entry is not None:
            entry.delete()
    return Outcome(assigned, pick.agent, queued=False, reason=pick.reason)


_CURSOR_MOVE = (
    f"UPDATE {TeamMembership._meta.db_table} SET last_assigned_at = %s "  # noqa: S608 - names from _meta,
    "WHERE team_id = %s AND agent_id = %s"  # values are parameters
)
_QUEUE = QueueEntry._meta.db_table
# The conversation's queue entry, if any, and how many other conversations wait in the team's queue ahead of
# it: all of them, unless it waits in this queue itself (then those queued before it).
_QUEUE_FACTS = (
    f"SELECT entry.id, entry.team_id, (SELECT COUNT(*) FROM {_QUEUE} other "  # noqa: S608 - names from _meta,
    "WHERE other.team_id = %s AND other.conversation_id <> %s "  # values are parameters
    "AND (entry.team_id IS NULL OR entry.team_id <> %s OR other.queued_at <= entry.queued_at)) "
    f"FROM (SELECT 1 AS one) AS one LEFT JOIN {_QUEUE} entry ON entry.conversation_id = %s"
)


def _queue_facts(conversation: Conversation, team: Team) -> tuple[QueueEntry | None, int]:
    """The conversation's queue entry (id, conversation and team loaded) and the number of conversations
    ahead of it in ``team``'s queue, in one statement written out (it runs on every assignment)."""
    with connection.cursor() as cursor:
        cursor.execute(_QUEUE_FACTS, [team.pk, conversation.pk, team.pk, conversation.pk])
        entry_id, team_id, ahead = cursor.fetchone()
    if entry_id is None:
        return None, int(ahead)
    fields = ["id", "conversation_id", "team_id"]
    return QueueEntry.from_db(connection.alias, fields, [entry_id, conversation.pk, team_id]), int(ahead)


def _enqueue(
    conversation: Conversation,
    *,
    team: Team,
    entry: QueueEntry | None,
    actor: User | None,
    team_full: bool,
    agent: AgentProfile | None,
    held: Held | None,
) -> Outcome:
    if conversation.assignee_id is not None or conversation.team != team.name:
        if held is not None:
            held.count(conversation, -1)
        conversation = conversation_assign(
            conversation=conversation, assignee=None, team=team.name, actor=actor, already_locked=True
        )
    if entry is None:
        QueueEntry.objects.create(conversation=conversation, team=team, queued_at=timezone.now())
    elif entry.team_id != team.pk:
        entry.team = team
        entry.save(update_fields=["team"])
    if agent is not None:
        reason = f"queued: {agent.user.username} is not online or has no room"
    elif team_full:
        reason = "queued: no online agent of the team has room"
    else:
        reason = f"queued: no online agent has room for {conversation.channel.get_kind_display()}"
    return Outcome(conversation, None, queued=True, reason=reason, team_full=team_full)


def conversation_route_to_team(
    *, conversation: Conversation, team: Team, strategy: str | None = None, actor: User | None = None
) -> Outcome:
    """Hand ``conversation`` to ``team``: an agent of the team with room (by ``strategy``, default the
    team's) or the team's queue. A conversation waiting in another team's queue moves to this one and
    keeps its place in time.

    When older conversations are already waiting in the team's queue, this one queues behind them even if
    an agent has room, and the queue is drained (oldest first) right after the surrounding transaction
    commits: draining locks other conversations, which must not happen while this transaction holds
    agent locks (see the module docstring). The returned outcome then says "queued behind N".
    """
    outcome = conversation_assign_agent(conversation=conversation, team=team, strategy=strategy, actor=actor)
    if outcome.behind:
        transaction.on_commit(partial(team_queue_drain, team=team), robust=True)
    return outcome


def team_queue_drain(*, team: Team, batch: int = 100, now: dt.datetime | None = None) -> int:
    """Assign the conversations waiting in ``team``'s queue, oldest first; returns how many were assigned.

    Each waiting conversation is offered in turn (``queued_at``, then id) by the team's strategy, in its
    own transaction. One that fits nobody (say every agent is at their WhatsApp limit) stays where it is
    and the next is tried, so a backlog on one channel kind does not block the others; draining stops as
    soon as no online member has any room at all. Conversations queued meanwhile are picked up by the
    next drain (every availability change and resolution asks for one, and a scheduled sweep runs every
    minute, see ``routing.tasks``).

    Outside the team's business hours (its own, else the default; none set up: always open) nothing is
    assigned: waiting conversations stay queued until the first drain after the opening (the sweep).
    """
    if not is_open(team_calendar(team), now or timezone.now()):
        return 0
    assigned = 0
    after: tuple[dt.datetime, int] | None = None
    while True:
        entries = QueueEntry.objects.filter(team=team).order_by("queued_at", "id")
        if after is not None:
            entries = entries.filter(queued_at__gte=after[0]).exclude(queued_at=after[0], id__lte=after[1])
        page = list(entries.select_related("conversation")[:batch])
        if not page:
            return assigned
        for entry in page:
            outcome = conversation_assign_agent(
                conversation=entry.conversation, team=team, strategy=team.strategy, only_if_queued=True
            )
            if outcome.agent is not None:
                assigned += 1
            elif outcome.team_full:
                return assigned
        after = (page[-1].queued_at, page[-1].pk)
