"""Mentions: ingest (de-duplicate, classify, store) and the staff actions on them.

Every source (feed poller, partner endpoint, channel comments) stores mentions through ``mention_ingest``.
Blocking an author or a site stops later mentions from being stored and marks the ones already stored
irrelevant (they stay, for the record, but leave the default lists and the statistics).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from social.listening.classify import Classifier, current_classifier
from social.models import BlockedAuthor, BlockedSite, Channel, Feed, Identity, Mention, PartnerSource, SourceKind

_SURROGATES = re.compile("[\ud800-\udfff]")
_REACH_KEYS = ("followers", "likes", "shares", "comments", "views")


def clean_text(value: Any, limit: int | None = None) -> str:
    """Text the database accepts: no NUL (PostgreSQL refuses it), lone surrogates replaced, stripped."""
    text = "" if value is None else str(value)
    text = _SURROGATES.sub("\ufffd", text.replace("\x00", "")).strip()
    return text[:limit] if limit else text


def normalise_handle(handle: str) -> str:
    return handle.strip().lstrip("@").casefold()


def site_of(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")


@dataclass(frozen=True)
class MentionInput:
    """One mention as a source delivers it, already cleaned (``MentionInput.build`` does that)."""

    external_id: str
    text: str
    author_handle: str = ""
    author_name: str = ""
    author_id: str = ""  # the channel's user id, for channel comments
    url: str = ""
    posted_at: dt.datetime | None = None
    reach: dict[str, int] = field(default_factory=dict)
    language: str = ""
    source_meta: dict[str, str] = field(default_factory=dict)  # what a reply needs (channel comments)

    @classmethod
    def build(cls, **values: Any) -> MentionInput:
        reach_in = values.pop("reach", None) or {}
        reach = {
            key: int(reach_in[key])
            for key in _REACH_KEYS
            if isinstance(reach_in, dict) and isinstance(reach_in.get(key), int | float) and reach_in[key] >= 0
        }
        return cls(
            external_id=clean_text(values.get("external_id"), 500),
            text=clean_text(values.get("text")),
            author_handle=clean_text(values.get("author_handle"), 200),
            author_name=clean_text(values.get("author_name"), 200),
            author_id=clean_text(values.get("author_id"), 255),
            url=clean_text(values.get("url"), 2000),
            posted_at=values.get("posted_at"),
            reach=reach,
            language=clean_text(values.get("language"), 8),
            source_meta={
                str(key): clean_text(value, 255) for key, value in (values.get("source_meta") or {}).items() if value
            },
        )


@dataclass(frozen=True)
class Blocklist:
    handles: frozenset[str]
    domains: frozenset[str]

    def blocks(self, item: MentionInput) -> bool:
        if item.author_handle and normalise_handle(item.author_handle) in self.handles:
            return True
        host = site_of(item.url)
        while host:
            if host in self.domains:
                return True
            host = host.partition(".")[2]
        return False


def blocklist_load() -> Blocklist:
    return Blocklist(
        handles=frozenset(normalise_handle(h) for h in BlockedAuthor.objects.values_list("handle", flat=True)),
        domains=frozenset(d.lower() for d in BlockedSite.objects.values_list("domain", flat=True)),
    )


@dataclass(frozen=True)
class IngestOutcome:
    status: str  # "created", "duplicate" or "blocked"
    mention: Mention | None


def _contact_id_for(item: MentionInput, channel: Channel | None) -> int | None:
    """The contact behind a known identity: the channel's user id, else a handle only one contact has."""
    if channel is not None and item.author_id:
        found = Identity.objects.filter(channel=channel, external_id=item.author_id).values_list(
            "contact_id", flat=True
        )
        return next(iter(found), None)
    handle = normalise_handle(item.author_handle)
    if not handle:
        return None
    contact_ids = set(
        Identity.objects.filter(Q(handle__iexact=handle) | Q(handle__iexact=f"@{handle}")).values_list(
            "contact_id", flat=True
        )[:2]
    )
    return contact_ids.pop() if len(contact_ids) == 1 else None


def mention_ingest(
    *,
    item: MentionInput,
    feed: Feed | None = None,
    partner: PartnerSource | None = None,
    channel: Channel | None = None,
    classifier: Classifier | None = None,
    blocklist: Blocklist | None = None,
) -> IngestOutcome:
    """Store one mention unless it is blocked or already stored.

    1. Blocked author or site: nothing is stored ("blocked").
    2. Already stored for this source (same external id): nothing changes ("duplicate").
    3. Classify (monitors, language, sentiment) and insert with its monitors in one transaction. A
       concurrent insert of the same mention loses on the unique constraint and reports "duplicate".

    Pass ``classifier`` and ``blocklist`` when ingesting a batch so they are loaded once.
    """
    owner: Feed | PartnerSource | Channel | None = feed or partner or channel
    if owner is None:
        raise ValueError("a mention needs its source: feed, partner or channel")
    source_kind = source_kind_of(owner)
    source_ref = f"{source_kind}:{owner.pk}"
    if (blocklist or blocklist_load()).blocks(item):
        return IngestOutcome("blocked", None)
    existing = Mention.objects.filter(source_ref=source_ref, external_id=item.external_id).first()
    if existing is not None:
        return IngestOutcome("duplicate", existing)
    result = (classifier or current_classifier()).classify(item.text, source_kind=source_kind, language=item.language)
    mention = Mention(
        source_kind=source_kind,
        source_ref=source_ref,
        external_id=item.external_id,
        feed=feed,
        partner=partner,
        channel=channel,
        author_handle=item.author_handle,
        author_name=item.author_name,
        author_external_id=item.author_id,
        source_meta=item.source_meta,
        text=item.text,
        url=item.url,
        site=site_of(item.url),
        # Without a posted time the mention counts on the day it arrived (charts and statistics need a day).
        posted_at=item.posted_at or timezone.now(),
        reach=item.reach,
        language=result.language,
        sentiment_score=result.sentiment_score,
        sentiment_label=result.sentiment_label,
        contact_id=_contact_id_for(item, channel),
    )
    try:
        with transaction.atomic():
            mention.save(force_insert=True)
            if result.monitor_ids:
                mention.monitors.add(*result.monitor_ids)
    except IntegrityError:
        winner = Mention.objects.filter(source_ref=source_ref, external_id=item.external_id).first()
        if winner is None:
            raise  # not the uniqueness race: a real error
        return IngestOutcome("duplicate", winner)
    return IngestOutcome("created", mention)


# --- Staff actions ------------------------------------------------------------------------------------------


def mentions_correct_sentiment(*, mentions: QuerySet[Mention], label: str) -> int:
    """Set the label by hand; ``sentiment_corrected`` keeps it from being recomputed."""
    if label not in Mention.Sentiment.values:
        raise ValueError(f"unknown sentiment {label!r}")
    return mentions.update(sentiment_label=label, sentiment_corrected=True, stats_dirty=True)


def mentions_tag(*, mentions: QuerySet[Mention], tag: str) -> int:
    tag = clean_text(tag, 50)
    if not tag:
        raise ValueError("the tag is empty")
    with transaction.atomic():
        rows = Mention.objects.filter(pk__in=mentions.values("pk")).select_for_update().only("id", "tags")
        changed = [mention for mention in rows.order_by("pk") if tag not in mention.tags]
        for mention in changed:
            mention.tags = [*mention.tags, tag]
        Mention.objects.bulk_update(changed, ["tags"], batch_size=500)
    return len(changed)


def mentions_mark_irrelevant(*, mentions: QuerySet[Mention]) -> int:
    return mentions.filter(is_irrelevant=False).update(is_irrelevant=True, stats_dirty=True)


def authors_block(*, handles: Iterable[str], reason: str = "") -> int:
    """Block these handles; their stored mentions are marked irrelevant. Returns how many were marked."""
    wanted = sorted({normalise_handle(h) for h in handles} - {""})
    return _block(
        BlockedAuthor, "handle", wanted, lambda h: Q(author_handle__iexact=h) | Q(author_handle__iexact=f"@{h}"), reason
    )


def sites_block(*, domains: Iterable[str], reason: str = "") -> int:
    """Block these hosts (and their subdomains); their stored mentions are marked irrelevant."""
    wanted = sorted({d.strip().lower().removeprefix("www.") for d in domains} - {""})
    return _block(BlockedSite, "domain", wanted, lambda d: Q(site=d) | Q(site__endswith=f".{d}"), reason)


def _block(model: Any, field: str, values: list[str], matches: Callable[[str], Q], reason: str) -> int:
    """One block entry per value (created through the model, so it is in the audit trail), then one UPDATE
    marking every stored mention that matches any of them; returns how many were marked."""
    if not values:
        return 0
    with transaction.atomic():
        for value in values:
            model.objects.get_or_create(**{field: value}, defaults={"reason": reason})
        return Mention.objects.filter(reduce(or_, map(matches, values)), is_irrelevant=False).update(
            is_irrelevant=True, stats_dirty=True
        )


def source_kind_of(owner: Feed | PartnerSource | Channel) -> str:
    if isinstance(owner, Feed):
        return SourceKind.FEED
    if isinstance(owner, PartnerSource):
        return SourceKind.PARTNER
    return SourceKind.CHANNEL_COMMENT
