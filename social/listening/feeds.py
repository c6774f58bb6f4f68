"""RSS/Atom feeds: the minute sweep that enqueues due feeds, and the poll of one feed.

A poll never raises for a feed's own faults (unreachable, HTTP error, not XML, wrong encoding, too large,
an address we may not call): it records them as the feed's ``status`` and ``last_error`` for staff to see,
counts consecutive failures and backs off (interval × 2^failures, at most × 16). A 304 answer to the
conditional GET stores nothing. Entries are de-duplicated by id (else link, else a hash of title and text),
so a feed repeating old items adds nothing.

Feed URLs are entered by staff, so fetching one follows the partner webhooks' address policy
(``crm.webhooks.addresses``): in production only https, and only hosts whose every address is public, so a
feed cannot point the server at the internal network (SSRF). The feed's URL and every redirect are checked
before the request, and the request goes to the address that was checked (``crm.webhooks.transport``'s
pinned connections), so a DNS answer that changes in between cannot slip through. Outside production
loopback and private addresses stay allowed (tests, a local feed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import http.client
import io
import logging
from typing import Any
from urllib.parse import urljoin

import feedparser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.html import strip_tags

from crm.webhooks.addresses import Target, UnsafeURL, webhook_target
from crm.webhooks.transport import pinned_connection
from social.listening import conf
from social.listening.classify import current_classifier
from social.listening.services import MentionInput, blocklist_load, mention_ingest
from social.models import Feed
from social.services.queue import enqueue_on_commit

logger = logging.getLogger(__name__)

USER_AGENT = "SocialCRM-listening/1.0 (+feed reader)"
ACCEPT = "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
    """The body and the (lower-cased) headers, or None for a 304. Redirects are followed by hand, at most
    ``FEED_MAX_REDIRECTS``, each new URL checked like the first."""
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    url = feed.url
    for _hop in range(conf.FEED_MAX_REDIRECTS + 1):
        status, answer_headers, body = _get(_target(url), headers)
        if status in REDIRECTS and answer_headers.get("location"):
            url = urljoin(url, answer_headers["location"])
            continue
        if status == 304:
            return None
        if status >= 300:
            raise FeedProblem(f"the server answered HTTP {status}")
        return body, answer_headers
    raise FeedProblem(f"more than {conf.FEED_MAX_REDIRECTS} redirects")


def _target(url: str) -> Target:
    try:
        return webhook_target(url)
    except UnsafeURL as exc:
        reason = str(exc)
        # A name that does not resolve is a network fault like a refused connection, not a policy refusal.
        label = "unreachable" if reason.startswith("cannot resolve") else "refused"
        raise FeedProblem(f"{label}: {reason}"[:500]) from None


def _get(target: Target, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One GET to a checked address; the body is read only for a 2xx answer."""
    try:
        connection = _connect(target)
    except OSError as exc:
        raise FeedProblem(f"unreachable: {type(exc).__name__}: {exc}"[:500]) from None
    try:
        # http.client sends "Accept-Encoding: identity", so the size limit counts what is parsed.
        connection.request("GET", target.path, headers=headers)
        response = connection.getresponse()
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        if not 200 <= response.status < 300:
            return response.status, answer_headers, b""
        body = bytearray()
        while chunk := response.read(64 * 1024):
            body += chunk
            if len(body) > conf.FEED_MAX_BYTES:
                raise FeedProblem(f"the feed is larger than {conf.FEED_MAX_BYTES // (1024 * 1024)} MB")
        return response.status, answer_headers, bytes(body)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise FeedProblem(f"unreachable: {type(exc).__name__}: {exc}"[:500]) from None
    finally:
        connection.close()


def _connect(target: Target) -> http.client.HTTPConnection:
    """A connection to the first of the checked addresses that accepts one: like a browser, a host whose
    IPv6 address cannot be reached from here is still reached over IPv4."""
    problem = OSError(f"no address for {target.host}")
    for address in target.addresses:
        connection = pinned_connection(target, address=address, timeout=conf.feed_timeout())
        try:
            connection.connect()
            return connection
        except OSError as exc:
            connection.close()
            problem = exc
    raise problem


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
