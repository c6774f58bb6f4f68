"""The customer 360 timeline: one newest-first, paginated stream of everything that happened with a contact.

Each app contributes a *source* (``register_timeline_source`` in its ``AppConfig.ready``); ``crm`` never
imports them. Pages are cut with a cursor on (time, source, id), so entries are never skipped or repeated
across pages even when several share a timestamp.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils.text import Truncator

from crm.models import Contact, Interaction, Order


@dataclass(frozen=True, order=True)
class Cursor:
    at: dt.datetime
    source: str
    id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}|{self.source}|{self.id}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """None for a missing or malformed cursor (the first page is shown instead of an error)."""
        if not text:
            return None
        try:
            at, source, ident = text.split("|")
            parsed = dt.datetime.fromisoformat(at)
            return cls(parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC), source, int(ident))
        except ValueError:
            return None


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    source: str
    id: int
    kind: str  # short label shown as a badge: "Call", "Order", "Message", …
    title: str
    body: str = ""
    url: str = ""

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.source, self.id)


# (contact, filter limiting rows to those before the cursor, how many) -> entries, newest first
TimelineSource = Callable[[Contact, Callable[[str], Q], int], list[TimelineEntry]]
SOURCES: dict[str, TimelineSource] = {}


def register_timeline_source(name: str, source: TimelineSource) -> None:
    SOURCES[name] = source


def before_filter(cursor: Cursor | None, source: str, time_field: str) -> Q:
    """Rows strictly after ``cursor`` in newest-first (time, source, id) order, for one source."""
    if cursor is None:
        return Q()
    if source < cursor.source:
        return Q(**{f"{time_field}__lte": cursor.at})
    if source > cursor.source:
        return Q(**{f"{time_field}__lt": cursor.at})
    return Q(**{f"{time_field}__lt": cursor.at}) | Q(**{time_field: cursor.at, "pk__lt": cursor.id})


def timeline_page(
    contact: Contact, *, cursor: Cursor | None = None, size: int = 25
) -> tuple[list[TimelineEntry], Cursor | None]:
    """One page of the contact's timeline and the cursor of the next page (None on the last page)."""
    entries: list[TimelineEntry] = []
    for name, source in SOURCES.items():
        entries.extend(source(contact, lambda field, name=name: before_filter(cursor, name, field), size + 1))  # type: ignore[misc]
    entries.sort(key=lambda e: e.cursor, reverse=True)
    page = entries[:size]
    return page, (page[-1].cursor if len(entries) > size else None)


# --- crm's own sources ---------------------------------------------------------------------------------------


def _interactions(contact: Contact, before: Callable[[str], Q], limit: int) -> list[TimelineEntry]:
    rows = Interaction.objects.filter(before("occurred_at"), contact=contact).select_related("staff")
    rows = rows.order_by("-occurred_at", "-pk")[:limit]
    return [
        TimelineEntry(
            at=i.occurred_at,
            source="crm.interaction",
            id=i.pk,
            kind=i.get_kind_display(),
            title=" · ".join(
                p for p in (i.subject or "(no subject)", i.get_direction_display(), str(i.staff or "")) if p
            ),
            body=Truncator(i.body).chars(280),
            url=reverse("admin:crm_interaction_change", args=[i.pk]),
        )
        for i in rows
    ]


def _orders(contact: Contact, before: Callable[[str], Q], limit: int) -> list[TimelineEntry]:
    rows = Order.objects.filter(before("ordered_at"), contact=contact).order_by("-ordered_at", "-pk")[:limit]
    return [
        TimelineEntry(
            at=o.ordered_at,
            source="crm.order",
            id=o.pk,
            kind="Order",
            title=f"{o.number} · {o.total} {o.currency} · {o.get_status_display()}",
            url=reverse("admin:crm_order_change", args=[o.pk]),
        )
        for o in rows
    ]


register_timeline_source("crm.interaction", _interactions)
register_timeline_source("crm.order", _orders)


def analysis_figures(contact: Contact) -> list[tuple[str, Any]]:
    """The analysis shown beside the timeline (as computed at the last recomputation)."""
    from django.utils import timezone

    analysis = getattr(contact, "analysis", None)
    if analysis is None:
        return [("Customer analysis", "not computed yet (runs nightly; or use the list's recompute action)")]
    now = timezone.now()

    def days_since(when: dt.datetime | None) -> str:
        return f"{(now - when).days} days" if when else "—"

    return [
        ("RFM segment", analysis.get_segment_display() or "No purchases"),
        (
            "R / F / M",
            " / ".join(
                str(s or "—") for s in (analysis.recency_score, analysis.frequency_score, analysis.monetary_score)
            ),
        ),
        ("Orders", analysis.order_count),
        ("Total spend", analysis.total_spend),
        ("Average order", analysis.average_order_value or "—"),
        ("First purchase", analysis.first_purchase_at.date() if analysis.first_purchase_at else "—"),
        ("Last purchase", analysis.last_purchase_at.date() if analysis.last_purchase_at else "—"),
        ("Days since last purchase", days_since(analysis.last_purchase_at)),
        ("Days since last interaction", days_since(analysis.last_interaction_at)),
        ("Computed", analysis.computed_at),
    ]
