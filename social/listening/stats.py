"""Daily mention statistics per monitor, the table charts and alerts read instead of millions of mentions.

Every write that changes what is counted marks the mention ``stats_dirty`` (new mentions are born dirty;
the staff actions set it in the same UPDATE). The sweep (every five minutes, migration 0004):

1. collects the dirty mentions' ids and the UTC days they were posted on;
2. clears their flag (committed first: a change made after this sets it again and is seen next time; a
   change in flight holds the row lock, so the UPDATE waits for it and step 3 reads it);
3. recomputes each of those days whole: delete the day's rows, insert the fresh counts, in one transaction.

A day has at most a few tens of thousands of mentions even at millions in total, and recomputing it is one
grouped query over the mention–monitor links, so this stays cheap and never drifts like counters would.
The same step keeps the day's top terms and authors per monitor (``MentionTopStat``, the ``TOP_KEEP``
most frequent of each): one pass over the day's mention texts, so the dashboard never reads mentions.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, Q

from social.listening.query import normalise
from social.models import Mention, MentionDailyStat, MentionTopStat
from social.models.listening_dashboard import TOP_KEEP

# Dirty mentions handled per sweep run; a backlog (a big import) is worked off over several runs.
SWEEP_BATCH = 20_000
_CHUNK = 1_000  # ids per UPDATE … WHERE id IN (…): within every backend's parameter limit


# Words that say nothing about what people talk about (English, German, French, Spanish basics).
STOPWORDS = frozenset(
    """
    about after again also although always and another any are aren around because been before being
    below between both but can cannot could did didn does doesn doing done don down during each even ever
    every few for from further get gets got had has have having her here hers him his how however into
    isn its itself just let like made make many may more most much must not now off once one only other
    our ours out over own per please really same she should since some still such than that thats the
    their them then there these they this those though through too under until very via was wasn way
    were weren what when where which while who whom why will with within without won would yes yet you
    your yours http https www com amp i'm it's can't don't doesn't didn't isn't won't that's you're
    aber als auch auf aus bei bin bis das dass dem den der des die doch ein eine einem einen einer eines
    für hat ich ihr ist mit nach nicht noch nur oder sehr sich sie sind und uns von war wie wir zu zum zur
    avec dans des est les mais pas pour que qui sur une vous
    con del las los para por que una
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_TERM = re.compile(r"#?[^\W\d_][\w'-]{2,}")
_URL = re.compile(r"https?://\S+|www\.\S+")


def text_terms(text: str) -> set[str]:
    """The distinct terms of a text: normalised words of three or more letters and #hashtags, no stopwords,
    URLs and @handles left out (authors have their own list)."""
    words = _TERM.findall(_URL.sub(" ", normalise(re.sub(r"@\w+", " ", text))))
    return {word.strip("'-") for word in words if word.strip("'-") not in STOPWORDS and len(word.strip("'-")) > 2}


def author_key(handle: str, name: str) -> tuple[str, str]:
    """(key, label): the handle without "@" (case-insensitive), else the display name."""
    bare = handle.strip().lstrip("@")
    if bare:
        label = f"{name} (@{bare})" if name and name.casefold() != bare.casefold() else f"@{bare}"
        return bare.casefold()[:200], label[:200]
    return (name.strip().casefold()[:200], name.strip()[:200]) if name.strip() else ("", "")


def _top_rows(day: dt.date, links: Iterable[tuple[int, str, str, str]]) -> list[MentionTopStat]:
    terms: dict[int, Counter[str]] = {}
    authors: dict[int, Counter[str]] = {}
    labels: dict[str, str] = {}
    text_cache: dict[str, set[str]] = {}
    for monitor_id, text, handle, name in links:
        words = text_cache.get(text)
        if words is None:
            words = text_cache[text] = text_terms(text)
        terms.setdefault(monitor_id, Counter()).update(words)
        key, label = author_key(handle, name)
        if key:
            authors.setdefault(monitor_id, Counter())[key] += 1
            labels.setdefault(key, label)
    rows = []
    for kind, per_monitor in ((MentionTopStat.Kind.TERM, terms), (MentionTopStat.Kind.AUTHOR, authors)):
        for monitor_id, counts in per_monitor.items():
            # Most frequent first, ties by key: the same input always keeps the same rows.
            top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_KEEP]
            rows += [
                MentionTopStat(
                    day=day,
                    monitor_id=monitor_id,
                    kind=kind,
                    key=key[:200],
                    label=labels.get(key, "") if kind == MentionTopStat.Kind.AUTHOR else "",
                    mentions=count,
                )
                for key, count in top
            ]
    return rows


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
    top_rows = _top_rows(
        day,
        links.values_list("monitor_id", "mention__text", "mention__author_handle", "mention__author_name").iterator(
            chunk_size=2000
        ),
    )
    with transaction.atomic():
        MentionDailyStat.objects.filter(day=day).delete()
        MentionDailyStat.objects.bulk_create(rows)
        MentionTopStat.objects.filter(day=day).delete()
        MentionTopStat.objects.bulk_create(top_rows, batch_size=1000)
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
