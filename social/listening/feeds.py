"""RSS/Atom feeds: the minute sweep that enqueues due feeds, and the poll of one feed.

A poll never raises for a feed's own faults (unreachable, HTTP error, not XML, wrong encoding, too large):
it records them as the feed's ``status`` and ``last_error`` for staff to see, counts consecutive failures
and backs off (interval × 2^failures, at most × 16). A 304 answer to the conditional GET stores nothing.
Entries are de-duplicated by id (else link, else a hash of title and text), so a feed repeating old items
adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import logging
from typing import Any

import feedparser
import requests
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.html import strip_tags

from social.listening import conf
from social.listening.classify import current_classifier
from social.listening.services import MentionInput, blocklist_load, mention_ingest
from social.models import Feed
from social.services.queue import enqueue_on_commit

logger = logging.getLogger(__name__)

USER_AGENT = "SocialCRM-listening/1.0 (+feed reader)"
ACCEPT = "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


class FeedProblem(Exception):
    """Something about the feed (not about us) that stops this poll; recorded on the feed."""


def feeds_enqueue_due() -> int:
    """Claim the active feeds that are due and enqueue one poll each (after commit). Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            Feed.objects.select_for_update(skip_locked=True)
            .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now), is_active=True)
            .order_by(F("next_poll_at").asc(nulls_first=True), "id")
            .values_list("id", flat=True)[: conf.FEED_SWEEP_LIMIT]
        )
        # The claim keeps the next sweep from enqueueing the feed again; the poll sets the real next time.
        Feed.objects.filter(id__in=due).update(next_poll_at=now + dt.timedelta(minutes=conf.FEED_CLAIM_MINUTES))
        for feed_id in due:
            enqueue_on_commit("social.listening.tasks.poll_feed", feed_id)
    return len(due)


def feeds_poll_now(*, feed_ids: list[int]) -> int:
    """Staff asked for these feeds now: enqueue a poll each (after commit), whatever their schedule."""
    with transaction.atomic():
        for feed_id in feed_ids:
            enqueue_on_commit("social.listening.tasks.poll_feed", feed_id)
    return len(feed_ids)


def feed_poll(*, feed_id: int) -> str:
    """Fetch one feed (conditional GET), store its new entries as mentions, record the outcome."""
    feed = Feed.objects.filter(pk=feed_id, is_active=True).first()
    if feed is None:
        return "skipped: no such active feed"
    try:
        fetched = _fetch(feed)
        if fetched is None:
            _record(feed, status=Feed.Status.OK, error="")
            return "not modified"
        body, headers = fetched
        entries, warning = _parse(body, headers)
    except FeedProblem as exc:
        _record(feed, status=Feed.Status.ERROR, error=str(exc))
        logger.info("feed %s: %s", feed.pk, exc)
        return f"error: {exc}"
    counts = {"created": 0, "duplicate": 0, "blocked": 0}
    classifier, blocklist = current_classifier(), blocklist_load()
    for entry in entries:
        outcome = mention_ingest(item=_mention(entry), feed=feed, classifier=classifier, blocklist=blocklist)
        counts[outcome.status] += 1
    feed.etag = headers.get("etag", "")[:500]
    feed.last_modified = headers.get("last-modified", "")[:100]
    _record(feed, status=Feed.Status.WARNING if warning else Feed.Status.OK, error=warning)
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def _fetch(feed: Feed) -> tuple[bytes, dict[str, str]] | None:
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    try:
        with requests.get(feed.url, headers=headers, timeout=conf.feed_timeout(), stream=True) as response:
            if response.status_code == 304:
                return None
            if response.status_code >= 400:
                raise FeedProblem(f"the server answered HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > conf.FEED_MAX_BYTES:
                    raise FeedProblem(f"the feed is larger than {conf.FEED_MAX_BYTES // (1024 * 1024)} MB")
            return body, {name.lower(): value for name, value in response.headers.items()}
    except requests.RequestException as exc:
        raise FeedProblem(f"unreachable: {type(exc).__name__}: {exc}"[:500]) from None


def _parse(body: bytes, headers: dict[str, str]) -> tuple[list[Any], str]:
    """The entries and a warning ("" when the document was clean). Raises FeedProblem when unreadable."""
    # A stream, not the bytes: feedparser treats a str/bytes argument as a possible file name or URL.
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    problem = parsed.get("bozo_exception")
    problem_text = f"{type(problem).__name__}: {problem}"[:500] if problem else ""
    if not parsed.get("version") and not parsed.entries:
        raise FeedProblem(f"not an RSS or Atom feed ({problem_text})" if problem_text else "not an RSS or Atom feed")
    return list(parsed.entries), (f"read with problems: {problem_text}" if parsed.get("bozo") else "")


def _mention(entry: Any) -> MentionInput:
    title = html.unescape(strip_tags(str(entry.get("title", "")))).strip()
    summary = html.unescape(strip_tags(str(entry.get("summary", "")))).strip()
    text = title if not summary or summary == title else f"{title}\n\n{summary}".strip()
    link = str(entry.get("link", ""))
    external_id = str(entry.get("id") or link or "")
    if not external_id:
        external_id = "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
    return MentionInput.build(
        external_id=external_id,
        text=text,
        author_name=entry.get("author", ""),
        url=link if link.startswith(("http://", "https://")) else "",
        posted_at=_entry_time(entry),
    )


def _entry_time(entry: Any) -> dt.datetime | None:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    if not stamp:
        return None
    try:
        year, month, day, hour, minute, second = stamp[:6]
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return None


def _record(feed: Feed, *, status: str, error: str) -> None:
    now = timezone.now()
    feed.status = status
    feed.last_error = error
    feed.last_polled_at = now
    feed.consecutive_failures = feed.consecutive_failures + 1 if status == Feed.Status.ERROR else 0
    backoff = min(2**feed.consecutive_failures, 16)
    feed.next_poll_at = now + dt.timedelta(minutes=feed.poll_interval_minutes * backoff)
    feed.save(
        update_fields=[
            "status",
            "last_error",
            "last_polled_at",
            "consecutive_failures",
            "next_poll_at",
            "etag",
            "last_modified",
        ]
    )
