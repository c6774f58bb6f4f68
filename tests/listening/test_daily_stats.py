"""Daily statistics per monitor: recomputed by the sweep from new mentions and staff corrections, so the
numbers charts read agree with the mentions without counting millions of rows at read time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django_q.models import Schedule

from social.listening.services import MentionInput, mention_ingest
from social.listening.tasks import refresh_listening_stats
from social.models import Feed, Mention, MentionDailyStat

DAY1 = dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 11, 28, 0, 30, tzinfo=dt.UTC)


@pytest.fixture
def feed(db: None) -> Feed:
    return Feed.objects.create(name="Reviews", url="https://reviews.example.com/rss")


def ingest(feed: Feed, external_id: str, text: str, posted_at: dt.datetime | None) -> None:
    mention_ingest(item=MentionInput.build(external_id=external_id, text=text, posted_at=posted_at), feed=feed)


def stats() -> dict[tuple[str, str], tuple[int, int, int, int]]:
    return {
        (row.day.isoformat(), row.monitor.name): (row.mentions, row.positive, row.neutral, row.negative)
        for row in MentionDailyStat.objects.select_related("monitor")
    }


def _action(client: Any, action: str, mentions: list[Mention], **extra: str) -> Any:
    data = {"action": action, "_selected_action": [str(m.pk) for m in mentions], "index": "0", **extra}
    return client.post("/admin/social/mention/", data, follow=True)


def test_sweep_counts_per_monitor_and_day_and_follows_corrections(
    feed: Feed, make_monitor: Any, maria: Any, login: Any
) -> None:
    assert Schedule.objects.get(name="social: refresh listening stats").func.endswith("refresh_listening_stats")
    make_monitor("Acme", "acme")
    make_monitor("Globex", "globex", kind="competitor")
    ingest(feed, "1", "I love acme, wonderful bikes", DAY1)
    ingest(feed, "2", "acme broke, terrible and awful", DAY1)
    ingest(feed, "3", "acme and globex compared", DAY2)  # neutral, both monitors
    ingest(feed, "4", "nothing to see", DAY2)  # no monitor
    assert refresh_listening_stats() == 2
    assert stats() == {
        ("2026-11-27", "Acme"): (2, 1, 0, 1),
        ("2026-11-28", "Acme"): (1, 0, 1, 0),
        ("2026-11-28", "Globex"): (1, 0, 1, 0),
    }
    assert refresh_listening_stats() == 0  # nothing changed: nothing recomputed

    client = login(maria)
    _action(client, "correct_sentiment", [Mention.objects.get(external_id="2")], sentiment="positive")
    _action(client, "mark_irrelevant", [Mention.objects.get(external_id="3")])
    ingest(feed, "5", "late report: globex is great", DAY1)  # arrives late for an earlier day
    assert refresh_listening_stats() == 2
    assert stats() == {
        ("2026-11-27", "Acme"): (2, 2, 0, 0),
        ("2026-11-27", "Globex"): (1, 1, 0, 0),
    }
    row = MentionDailyStat.objects.get(day=DAY1.date(), monitor__name="Acme")
    page = client.get("/admin/social/mentiondailystat/").content.decode()
    assert "Globex" in page and "0%" in page and row.negative_share == 0


def test_mention_without_a_posted_time_counts_on_its_arrival_day(feed: Feed, make_monitor: Any) -> None:
    make_monitor("Acme", "acme")
    ingest(feed, "1", "acme today", None)
    refresh_listening_stats()
    mention = Mention.objects.get()
    assert mention.posted_at is not None
    assert MentionDailyStat.objects.get().day == mention.posted_at.astimezone(dt.UTC).date()


def test_a_deleted_monitor_takes_its_statistics_along(feed: Feed, make_monitor: Any) -> None:
    monitor = make_monitor("Acme", "acme")
    ingest(feed, "1", "acme", DAY1)
    refresh_listening_stats()
    monitor.delete()
    assert not MentionDailyStat.objects.exists()
