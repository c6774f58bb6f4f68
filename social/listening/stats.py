"""Daily mention statistics per monitor, the table charts and alerts read instead of millions of mentions.

Every write that changes what is counted marks the mention ``stats_dirty`` (new mentions are born dirty;
the staff actions set it in the same UPDATE). The sweep (every five minutes, migration 0004):

1. collects the dirty mentions' ids and the UTC days they were posted on;
2. clears their flag (committed first: a change made after this sets it again and is seen next time; a
   change in flight holds the row lock, so the UPDATE waits for it and step 3 reads it);
3. recomputes each of those days whole: delete the day's rows, insert the fresh counts, in one transaction.

A day has at most a few tens of thousands of mentions even at millions in total, and recomputing it is one
grouped query over the mention–monitor links, so this stays cheap and never drifts like counters would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, Q

from social.models import Mention, MentionDailyStat

# Dirty mentions handled per sweep run; a backlog (a big import) is worked off over several runs.
SWEEP_BATCH = 20_000
_CHUNK = 1_000  # ids per UPDATE … WHERE id IN (…): within every backend's parameter limit


def _day_range(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def stats_day_recompute(*, day: dt.date) -> int:
    """Replace the statistics of ``day`` with counts from the mentions; returns the number of rows."""
    start, end = _day_range(day)
    links = Mention.monitors.through.objects.filter(
        mention__posted_at__gte=start, mention__posted_at__lt=end, mention__is_irrelevant=False
    )
    counts = links.values("monitor_id").annotate(
        total=Count("id"),
        positive=Count("id", filter=Q(mention__sentiment_label=Mention.Sentiment.POSITIVE)),
        neutral=Count("id", filter=Q(mention__sentiment_label=Mention.Sentiment.NEUTRAL)),
        negative=Count("id", filter=Q(mention__sentiment_label=Mention.Sentiment.NEGATIVE)),
    )
    rows = [
        MentionDailyStat(
            day=day,
            monitor_id=row["monitor_id"],
            mentions=row["total"],
            positive=row["positive"],
            neutral=row["neutral"],
            negative=row["negative"],
        )
        for row in counts
    ]
    with transaction.atomic():
        MentionDailyStat.objects.filter(day=day).delete()
        MentionDailyStat.objects.bulk_create(rows)
    return len(rows)


def stats_refresh_dirty() -> int:
    """Recompute every day that has dirty mentions (see the module's steps). Returns the days recomputed."""
    dirty = list(
        Mention.objects.filter(stats_dirty=True).order_by("posted_at").values_list("id", "posted_at")[:SWEEP_BATCH]
    )
    if not dirty:
        return 0
    ids = [pk for pk, _ in dirty]
    for offset in range(0, len(ids), _CHUNK):
        Mention.objects.filter(id__in=ids[offset : offset + _CHUNK]).update(stats_dirty=False)
    days = {posted.astimezone(dt.UTC).date() for _, posted in dirty if posted is not None}
    for day in sorted(days):
        stats_day_recompute(day=day)
    return len(days)


def stats_for(*, monitor_ids: Iterable[int], start: dt.date, end: dt.date) -> list[MentionDailyStat]:
    """The stored rows for these monitors from ``start`` to ``end`` inclusive, oldest first."""
    return list(
        MentionDailyStat.objects.filter(monitor_id__in=list(monitor_ids), day__gte=start, day__lte=end).order_by(
            "day", "monitor_id"
        )
    )
