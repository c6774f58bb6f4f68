"""The facts one routing run looks at, loaded with a fixed number of queries (no per-rule or per-row query).

``context_load``: the message with its conversation, channel, contact (and RFM analysis) and assignee in one
query; the contact's tags in one; the message counts in one. Business hours are loaded on first use by a
condition or action (four queries for every team the run needs: teams, default hours, periods, holidays)
and then answered from compiled calendars.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from routing.engine.text import MAX_TEXT, fold, spaced_words, words
from routing.hours import WEEKDAYS, Calendar, calendar_from_parts, is_open, next_opening

if TYPE_CHECKING:
    from routing.services.assignment import Held

ALWAYS_OPEN = calendar_from_parts(timezone="UTC", periods=[(day, dt.time(0), dt.time(0)) for day in range(7)])


@dataclass
class Context:
    event: str = "message_received"
    now: dt.datetime = field(default_factory=timezone.now)
    conversation_id: int | None = None
    message_id: int | None = None
    text: str = ""
    language: str = ""
    sentiment: float | None = None
    first_message: bool = False
    message_count: int = 0
    channel_id: int | None = None
    channel_kind: str = ""
    channel_name: str = ""
    contact_first_name: str = ""
    contact_last_name: str = ""
    contact_stage: str = ""
    contact_language: str = ""
    contact_tags: frozenset[str] = frozenset()
    rfm_segment: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    owner_id: int | None = None
    status: str = "open"
    priority: int = 1
    labels: tuple[str, ...] = ()
    team: str = ""
    assignee_id: int | None = None
    agent_name: str = ""
    # SLA rules: the kind of the clock that warned or breached (``routing.services.sla``).
    sla_kind: str = ""
    # Team name → compiled calendar ("" → the default hours); filled by ``calendars_load``.
    calendars: dict[str, Calendar] = field(default_factory=dict)
    calendars_loaded: set[str] = field(default_factory=set)
    # Teams the actions name, by id: read once per run (or batch of runs, ``routing_batch``).
    teams: dict[int, Any] = field(default_factory=dict)
    # The teams whose agents this run's transaction has locked, with their loads (shared by the runs of a
    # batch): set on first assignment.
    held: Held | None = None
    # Answers about the hours, per team name, computed once per run (many rules ask the same question).
    memo: dict[tuple[str, str], Any] = field(default_factory=dict)
    folded: str = field(init=False, default="")
    words: frozenset[str] = field(init=False, default=frozenset())
    spaced: str = field(init=False, default=" ")
    label_set: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        self.set_text(self.text)
        self.set_labels(self.labels)

    def set_text(self, text: str) -> None:
        self.text = text[:MAX_TEXT]
        self.folded = fold(self.text)
        self.words = words(self.folded)
        self.spaced = spaced_words(self.folded)

    def set_labels(self, labels: Iterable[str]) -> None:
        self.labels = tuple(labels)
        self.label_set = frozenset(label.casefold() for label in self.labels)

    # --- Business hours -----------------------------------------------------------------------------------

    def calendar(self, team: str | None) -> Calendar:
        name = self.team if team is None else team
        if name not in self.calendars_loaded:
            calendars_load(self, [name])
        return self.calendars.get(name) or self.calendars.get("") or ALWAYS_OPEN

    def is_open(self, team: str | None = None) -> bool:
        key = ("open", self.team if team is None else team)
        if key not in self.memo:
            self.memo[key] = is_open(self.calendar(team), self.now)
        return bool(self.memo[key])

    def local_now(self, team: str | None = None) -> dt.datetime:
        key = ("local", self.team if team is None else team)
        if key not in self.memo:
            self.memo[key] = self.now.astimezone(self.calendar(team).tz)
        local: dt.datetime = self.memo[key]
        return local

    def local_hhmm(self, team: str | None = None) -> str:
        key = ("hhmm", self.team if team is None else team)
        if key not in self.memo:
            self.memo[key] = self.local_now(team).strftime("%H:%M")
        return str(self.memo[key])

    def next_opening(self, team: str | None = None) -> dt.datetime | None:
        return next_opening(self.calendar(team), self.now)

    def next_opening_text(self, team: str | None = None) -> str:
        cal = self.calendar(team)
        if is_open(cal, self.now):
            return "now"
        opening = next_opening(cal, self.now)
        if opening is None:
            return "when the team reopens"
        local = opening.astimezone(cal.tz)
        return f"{WEEKDAYS[local.weekday()]} {local:%H:%M} ({cal.tz.key})"

    def template_values(self) -> dict[str, str]:
        return {
            "contact.first_name": self.contact_first_name,
            "contact.last_name": self.contact_last_name,
            "contact.name": f"{self.contact_first_name} {self.contact_last_name}".strip(),
            "channel.name": self.channel_name,
            "team.name": self.team,
            "agent.name": self.agent_name,
            "conversation.id": str(self.conversation_id or ""),
            "next_opening": self.next_opening_text(),
        }


def calendars_load(ctx: Context, team_names: Iterable[str]) -> None:
    """Compile the hours of ``team_names`` (and the default hours) into ``ctx.calendars``: four queries."""
    from routing.models import BusinessHours, Holiday, OpeningPeriod, Team

    names = {name for name in team_names if name and name not in ctx.calendars_loaded}
    hours_of: dict[str, int] = {}
    if names:
        for team in Team.objects.filter(name__in=names).only("name", "business_hours_id"):
            if team.business_hours_id is not None:
                hours_of[team.name] = team.business_hours_id
    if "" not in ctx.calendars_loaded:
        default = BusinessHours.objects.filter(is_default=True).values_list("pk", flat=True).first()
        if default is not None:
            hours_of[""] = default
    ids = set(hours_of.values())
    zones = dict(BusinessHours.objects.filter(pk__in=ids).values_list("pk", "timezone")) if ids else {}
    periods: dict[int, list[tuple[int, dt.time, dt.time]]] = {pk: [] for pk in ids}
    holidays: dict[int, list[dt.date]] = {pk: [] for pk in ids}
    if ids:
        for hours_id, weekday, start, end in OpeningPeriod.objects.filter(business_hours_id__in=ids).values_list(
            "business_hours_id", "weekday", "start", "end"
        ):
            periods[hours_id].append((weekday, start, end))
        for hours_id, date in Holiday.objects.filter(business_hours_id__in=ids).values_list(
            "business_hours_id", "date"
        ):
            holidays[hours_id].append(date)
    compiled = {pk: calendar_from_parts(timezone=zones[pk], periods=periods[pk], holidays=holidays[pk]) for pk in ids}
    for name, pk in hours_of.items():
        ctx.calendars[name] = compiled[pk]
    ctx.calendars_loaded |= names | {""}


@dataclass(frozen=True)
class MessageFacts:
    """What a run reads about its message and contact that no rule action changes, loaded for a whole batch
    of messages at once (``routing.services.routing_batch``, the dry run)."""

    text: str
    language: str
    sentiment: float | None
    contact_tags: frozenset[str] | None  # None: not loaded
    # The message's place in its conversation: messages (both directions, no notes) up to and including it.
    position: int | None = None  # None: not loaded


def message_facts_load(message_ids: Sequence[int]) -> dict[int, tuple[int, MessageFacts]]:
    """Message id -> (conversation id, facts) for the inbound customer messages among ``message_ids``: two
    queries for any number of messages (in chunks), for the routing task of a batch and the dry run."""
    from crm.models import Tag
    from social.models import Message

    earlier = (
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"), is_internal_note=False, pk__lte=OuterRef("pk")
        )
        .order_by()
        .values("conversation_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows: list[tuple[int, int, int, str, str, float | None, int]] = []
    for start in range(0, len(message_ids), _CHUNK):
        rows += (
            Message.objects.filter(
                pk__in=message_ids[start : start + _CHUNK],
                direction=Message.Direction.INBOUND,
                is_internal_note=False,
            )
            .annotate(position=Subquery(earlier))
            .values_list(
                "pk", "conversation_id", "conversation__contact_id", "text", "language", "sentiment", "position"
            )
        )
    contact_ids = sorted({row[2] for row in rows})
    tags: dict[int, set[str]] = {contact_id: set() for contact_id in contact_ids}
    for start in range(0, len(contact_ids), _CHUNK):
        chunk = contact_ids[start : start + _CHUNK]
        for contact_id, name in Tag.objects.filter(contacts__in=chunk).values_list("contacts", "name"):
            if contact_id in tags:
                tags[contact_id].add(name)
    return {
        pk: (conversation_id, MessageFacts(text, language, sentiment, frozenset(tags[contact_id]), position))
        for pk, conversation_id, contact_id, text, language, sentiment, position in rows
    }


_CHUNK = 5000
# What a context reads about a conversation, its channel, contact and assignee: plain values (model instances
# for five joined tables with deferred fields cost more than the query).
_ROW_FIELDS = (
    "id", "channel_id", "status", "priority", "labels", "team", "assignee_id", "assignee__first_name",
    "assignee__last_name", "assignee__username", "channel__kind", "channel__name", "contact_id",
    "contact__first_name", "contact__last_name", "contact__stage", "contact__attributes",
    "contact__preferred_language", "contact__owner_id", "contact__analysis__segment",
)  # fmt: skip


def conversation_rows(conversation_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Conversation id -> the row ``context_from`` reads: one query for any number of conversations."""
    from social.models import Conversation

    return {row["id"]: row for row in Conversation.objects.filter(pk__in=list(conversation_ids)).values(*_ROW_FIELDS)}


def conversation_row_after(row: dict[str, Any], conversation: Any) -> dict[str, Any]:
    """``row`` (``conversation_rows``) as the actions of a run left ``conversation`` (the locked row they
    saved): its own columns from it, the assignee's names from its user when the assignee changed (an
    assignment sets the user on it). Actions change nothing else a context reads (contact, channel)."""
    after = {
        **row,
        "status": conversation.status,
        "priority": conversation.priority,
        "labels": conversation.labels,
        "team": conversation.team,
        "assignee_id": conversation.assignee_id,
    }
    if conversation.assignee_id != row["assignee_id"]:
        user = conversation.assignee
        after["assignee__first_name"] = user.first_name if user else None
        after["assignee__last_name"] = user.last_name if user else None
        after["assignee__username"] = user.username if user else None
    return after


def context_load(
    *, conversation_id: int, message_id: int | None, event: str, facts: MessageFacts | None = None
) -> Context:
    """The context of a run on a conversation (and, for message events, the inbound message): three queries,
    one when ``facts`` come preloaded (``message_facts_load``). The message count of a message run is the
    conversation's messages up to and including that message (as it was when the message arrived, also
    when the run is late or replayed); of any other run, all its messages now."""
    from crm.models import Tag
    from social.models import Conversation, Message

    row = Conversation.objects.values(*_ROW_FIELDS).get(pk=conversation_id)
    if facts is None and message_id is not None:
        facts = message_facts_load([message_id]).get(message_id, (conversation_id, None))[1]
    ctx = context_from(row, message_id=message_id, facts=facts, event=event)
    if facts is None:
        ctx.contact_tags = frozenset(
            name.casefold() for name in Tag.objects.filter(contacts=row["contact_id"]).values_list("name", flat=True)
        )
        ctx.message_count = Message.objects.filter(conversation_id=conversation_id, is_internal_note=False).count()
    return ctx


def context_from(row: dict[str, Any], *, message_id: int | None, facts: MessageFacts | None, event: str) -> Context:
    """A context from a ``conversation_rows`` row and, for a message run, its loaded facts (no query)."""
    agent_name = f"{row['assignee__first_name'] or ''} {row['assignee__last_name'] or ''}".strip()
    position = (facts.position or 0) if facts is not None else 0
    return Context(
        event=event,
        conversation_id=row["id"],
        message_id=message_id,
        text=facts.text if facts else "",
        language=(facts.language or "").lower() if facts else "",
        sentiment=facts.sentiment if facts else None,
        first_message=facts is not None and position == 1,
        message_count=position,
        channel_id=row["channel_id"],
        channel_kind=row["channel__kind"],
        channel_name=row["channel__name"],
        contact_first_name=row["contact__first_name"],
        contact_last_name=row["contact__last_name"],
        contact_stage=row["contact__stage"],
        contact_language=(row["contact__preferred_language"] or "").lower(),
        contact_tags=frozenset(name.casefold() for name in (facts.contact_tags or ())) if facts else frozenset(),
        rfm_segment=row["contact__analysis__segment"] or "",
        attributes=dict(row["contact__attributes"] or {}),
        owner_id=row["contact__owner_id"],
        status=row["status"],
        priority=row["priority"],
        labels=tuple(row["labels"] or []),
        team=row["team"],
        assignee_id=row["assignee_id"],
        agent_name=(agent_name or row["assignee__username"] or "") if row["assignee_id"] else "",
    )
