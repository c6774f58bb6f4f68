"""The numbers behind the listening dashboard, read from the pre-aggregated tables only.

* Mentions over time, sentiment share over time and share of voice: ``MentionDailyStat`` rows of the
  chosen monitors and days (the unique index on monitor and day), never the mentions themselves.
* Top terms and top authors: ``MentionTopStat`` (each day's most frequent ones per monitor), summed over
  the last ``TOP_WINDOW_DAYS`` days of the range (the unique index leading on day). The window bounds the
  rows read however long the range is.

A mention matching two monitors counts once for each: sentiment and share of voice add monitors up.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from django.db.models import Max, Sum

from social.models import MentionDailyStat, MentionTopStat, Monitor

MAX_DAYS = 731  # two years of days: the longest range one page draws
TOP_WINDOW_DAYS = 31
TOP_LIMIT = 20
SHARE_OF_VOICE_KINDS = (Monitor.Kind.BRAND, Monitor.Kind.COMPETITOR)


@dataclass(frozen=True)
class Filters:
    start: dt.date
    end: dt.date
    monitors: tuple[Monitor, ...]

    @property
    def top_start(self) -> dt.date:
        return max(self.start, self.end - dt.timedelta(days=TOP_WINDOW_DAYS - 1))


@dataclass(frozen=True)
class DaySentiment:
    day: dt.date
    mentions: int
    positive: int
    neutral: int
    negative: int

    def share(self, count: int) -> float:
        return count / self.mentions if self.mentions else 0.0


@dataclass(frozen=True)
class Ranked:
    key: str
    label: str
    mentions: int
    share: float = 0.0
    kind: str = ""


@dataclass
class Dashboard:
    filters: Filters
    days: list[dt.date]
    # Monitor -> mentions per day, aligned with ``days``.
    volume: dict[Monitor, list[int]] = field(default_factory=dict)
    sentiment: list[DaySentiment] = field(default_factory=list)
    share_of_voice: list[Ranked] = field(default_factory=list)
    top_terms: list[Ranked] = field(default_factory=list)
    top_authors: list[Ranked] = field(default_factory=list)


def dashboard_build(*, filters: Filters) -> Dashboard:
    days = [filters.start + dt.timedelta(days=n) for n in range((filters.end - filters.start).days + 1)]
    board = Dashboard(filters=filters, days=days)
    by_id = {monitor.pk: monitor for monitor in filters.monitors}
    if not by_id:
        return board
    index = {day: n for n, day in enumerate(days)}
    board.volume = {monitor: [0] * len(days) for monitor in filters.monitors}
    totals = {day: [0, 0, 0, 0] for day in days}
    per_monitor = dict.fromkeys(by_id, 0)
    rows = MentionDailyStat.objects.filter(
        monitor_id__in=list(by_id), day__gte=filters.start, day__lte=filters.end
    ).values_list("monitor_id", "day", "mentions", "positive", "neutral", "negative")
    for monitor_id, day, mentions, positive, neutral, negative in rows:
        board.volume[by_id[monitor_id]][index[day]] = mentions
        sums = totals[day]
        sums[0] += mentions
        sums[1] += positive
        sums[2] += neutral
        sums[3] += negative
        per_monitor[monitor_id] += mentions
    board.sentiment = [DaySentiment(day, *totals[day]) for day in days]

    voices = [monitor for monitor in filters.monitors if monitor.kind in SHARE_OF_VOICE_KINDS]
    voice_total = sum(per_monitor[monitor.pk] for monitor in voices)
    board.share_of_voice = sorted(
        (
            Ranked(
                key=str(monitor.pk),
                label=monitor.name,
                mentions=per_monitor[monitor.pk],
                share=per_monitor[monitor.pk] / voice_total if voice_total else 0.0,
                kind=monitor.get_kind_display(),
            )
            for monitor in voices
        ),
        key=lambda item: (-item.mentions, item.label.casefold()),
    )
    board.top_terms = _top(filters, MentionTopStat.Kind.TERM)
    board.top_authors = _top(filters, MentionTopStat.Kind.AUTHOR)
    return board


def _top(filters: Filters, kind: str) -> list[Ranked]:
    rows = (
        MentionTopStat.objects.filter(
            day__gte=filters.top_start,
            day__lte=filters.end,
            kind=kind,
            monitor_id__in=[monitor.pk for monitor in filters.monitors],
        )
        .values("key")
        .annotate(total=Sum("mentions"), shown=Max("label"))
        .order_by("-total", "key")[:TOP_LIMIT]
    )
    return [Ranked(key=row["key"], label=row["shown"] or row["key"], mentions=row["total"]) for row in rows]


# --- CSV ------------------------------------------------------------------------------------------------

CHARTS = ("volume", "sentiment", "share_of_voice", "top_terms", "top_authors")


def csv_safe(value: object) -> str:
    """A cell a spreadsheet shows as text: public authors and terms may start with = + - @ (formulas)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def dashboard_csv(board: Dashboard, chart: str) -> str:
    """The numbers behind one chart, as the page shows them."""
    out = io.StringIO()
    writer = csv.writer(out)
    if chart == "volume":
        monitors = list(board.volume)
        writer.writerow(["day", *(csv_safe(monitor.name) for monitor in monitors)])
        for n, day in enumerate(board.days):
            writer.writerow([day.isoformat(), *(board.volume[monitor][n] for monitor in monitors)])
    elif chart == "sentiment":
        writer.writerow(
            ["day", "mentions", "positive", "neutral", "negative", "positive_share", "neutral_share", "negative_share"]
        )
        for row in board.sentiment:
            counts = (row.positive, row.neutral, row.negative)
            shares = [f"{row.share(count):.4f}" for count in counts]
            writer.writerow([row.day.isoformat(), row.mentions, *counts, *shares])
    elif chart == "share_of_voice":
        writer.writerow(["monitor", "kind", "mentions", "share"])
        for item in board.share_of_voice:
            writer.writerow([csv_safe(item.label), item.kind, item.mentions, f"{item.share:.4f}"])
    elif chart in ("top_terms", "top_authors"):
        items = board.top_terms if chart == "top_terms" else board.top_authors
        writer.writerow(["term" if chart == "top_terms" else "author", "mentions"])
        for item in items:
            writer.writerow([csv_safe(item.label), item.mentions])
    else:
        raise ValueError(f"unknown chart {chart!r}")
    return out.getvalue()
