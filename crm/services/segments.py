"""Segments: saved contact filters (dynamic, evaluated when used) and frozen member lists (static).

A definition is a dict; every key is optional and the keys AND together (an empty definition is every contact):

- ``stages``: ``["lead", "customer"]`` — the contact is in one of these stages.
- ``tags_any`` / ``tags_all``: tag ids (or names, matched case-insensitively) — has any / all of these tags.
- ``owners``: user ids (``owner``: one id is accepted too) — owned by one of them.
- ``rfm_segments``: values of ``ContactAnalysis.Segment`` — in one of these RFM segments.
- ``spend_min`` / ``spend_max``: decimal strings, inclusive — total spend in the range (no analysis row = 0).
- ``purchased_within_days`` / ``interacted_within_days``: N — the last purchase / interaction is at most N days old.
- ``not_purchased_for_days`` / ``not_interacted_for_days``: N — no purchase / interaction in the last N days,
  *including never* (Klaviyo's "zero times in the last N days"); combine with an RFM segment or ``spend_min`` for
  lapsed buyers only. Together, ``X_within_days: 90`` and ``not_X_for_days: 30`` select a window (30–90 days ago).
- ``attributes``: ``{"loyalty_tier": "gold"}`` — custom attribute equal to the value (typed by its definition).
- ``consent``: ``{"channel": "whatsapp", "status": "opted_in"}`` — recorded consent on a channel (status defaults
  to opted_in).

``segment_definition_validate`` checks a definition against the database and returns its canonical form
(tags as ids, ``owner`` folded into ``owners``, attribute values in their stored JSON form); stored segments
always went through it. Every evaluation is one SQL query over alive contacts: one-to-one joins to the analysis
row and ``EXISTS`` subqueries for tags and consent, so no duplicates and no ``DISTINCT``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from crm.attributes import coerce_attribute
from crm.models import (
    AttributeDefinition,
    ConsentChannel,
    Contact,
    ContactAnalysis,
    ContactConsent,
    Segment,
    SegmentMember,
    Tag,
    User,
)

RECENCY_KEYS = ("purchased_within_days", "not_purchased_for_days", "interacted_within_days", "not_interacted_for_days")
DEFINITION_KEYS = (
    "stages", "tags_any", "tags_all", "owner", "owners", "rfm_segments", "spend_min", "spend_max", *RECENCY_KEYS,
    "attributes", "consent",
)  # fmt: skip
# A hundred years: larger values would overflow the date arithmetic and mean nothing anyway.
MAX_DAYS = 36_500
# Rows per INSERT when freezing: large enough to be fast, small enough for SQLite's parameter limit.
FREEZE_BATCH = 2_000
NAME_MAX = Segment._meta.get_field("name").max_length or 150


class _Invalid(ValueError):
    """One key's value is wrong; the message says why (the caller prefixes the key)."""


# --- Validation ------------------------------------------------------------------------------------------
def _list(value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise _Invalid("expected a list")
    try:
        return list(dict.fromkeys(value))  # order kept, duplicates dropped
    except TypeError:  # unhashable items: lists or objects inside the list
        raise _Invalid("expected a list of plain values") from None


def _choices(value: Any, allowed: list[str], noun: str) -> list[str]:
    items = _list(value)
    bad = [item for item in items if item not in allowed]
    if bad:
        raise _Invalid(f"{', '.join(repr(b) for b in bad)} is not {noun} (one of {', '.join(allowed)})")
    return [value for value in allowed if value in items]  # in the choices' order: one spelling per filter


def _tags(value: Any) -> list[int]:
    items = _list(value)
    ids = [item for item in items if isinstance(item, int) and not isinstance(item, bool)]
    names = [item.strip() for item in items if isinstance(item, str) and item.strip()]
    if len(ids) + len(names) != len(items):
        raise _Invalid("give tag ids or tag names")
    if not items:
        return []
    condition = Q(pk__in=ids) if ids else Q()
    for name in names:
        condition |= Q(name__iexact=name)
    found = list(Tag.objects.filter(condition).values_list("pk", "name"))
    missing = [str(i) for i in ids if i not in {pk for pk, _ in found}]
    missing += [n for n in names if n.lower() not in {name.lower() for _, name in found}]
    if missing:
        raise _Invalid(f"unknown tag {', '.join(missing)}")
    return sorted(pk for pk, _ in found)


def _owners(value: Any) -> list[int]:
    items = _list(value)
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        raise _Invalid("give user ids")
    known = set(User.objects.filter(pk__in=items).values_list("pk", flat=True))
    missing = [str(i) for i in items if i not in known]
    if missing:
        raise _Invalid(f"unknown user {', '.join(missing)}")
    return sorted(items)


def _owner(value: Any) -> list[int]:
    return _owners([value])


def _amount(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _Invalid("expected an amount such as 100 or 99.50")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Invalid(f"expected an amount such as 100 or 99.50, got {value!r}") from None
    if not amount.is_finite():
        raise _Invalid("expected a finite amount")
    if amount < 0:
        raise _Invalid("cannot be negative")
    return str(amount)


def _days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("expected a whole number of days")
    days: int = value
    if days < 0:
        raise _Invalid("cannot be negative")
    if days > MAX_DAYS:
        raise _Invalid(f"at most {MAX_DAYS} days")
    return days


def _attributes(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid("expected an object of attribute key: value")
    definitions = {d.key: d for d in AttributeDefinition.objects.filter(key__in=[str(k) for k in value])}
    problems: list[str] = []
    cleaned: dict[str, Any] = {}
    for key, raw in value.items():
        definition = definitions.get(key)
        if definition is None:
            problems.append(f"{key}: unknown attribute")
        elif raw is None or raw == "":
            problems.append(f"{key}: give a value")
        else:
            try:
                cleaned[key] = coerce_attribute(definition, raw)
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
    if problems:
        raise _Invalid("; ".join(problems))
    return cleaned


def _consent(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid('expected {"channel": …, "status": …}')
    extra = sorted(set(value) - {"channel", "status"})
    if extra:
        raise _Invalid(f"unknown part {', '.join(extra)} (give channel and status)")
    channel, status = value.get("channel"), value.get("status", ContactConsent.Status.OPTED_IN)
    if channel not in ConsentChannel.values:
        raise _Invalid(f"unknown channel {channel!r} (one of {', '.join(ConsentChannel.values)})")
    if status not in ContactConsent.Status.values:
        raise _Invalid(f"unknown status {status!r} (one of {', '.join(ContactConsent.Status.values)})")
    return {"channel": channel, "status": status}


PARSERS: dict[str, Callable[[Any], Any]] = {
    "stages": lambda v: _choices(v, Contact.Stage.values, "a stage"),
    "tags_any": _tags,
    "tags_all": _tags,
    "owner": _owner,
    "owners": _owners,
    "rfm_segments": lambda v: _choices(v, ContactAnalysis.Segment.values, "an RFM segment"),
    "spend_min": _amount,
    "spend_max": _amount,
    **dict.fromkeys(RECENCY_KEYS, _days),
    "attributes": _attributes,
    "consent": _consent,
}


def segment_definition_validate(definition: Any) -> dict[str, Any]:
    """Check a segment definition; return its canonical form (empty filters dropped).

    Raises ``ValidationError`` keyed by the definition key, each message starting with that key
    (``"stages: 'vip' is not a stage …"``), so API clients and the admin form can point at the culprit.
    """
    if definition is None:
        definition = {}
    if not isinstance(definition, dict):
        raise ValidationError({"definition": ['definition: expected an object of filters, e.g. {"stages": ["lead"]}']})
    errors: dict[str, list[str]] = {}

    def fail(key: str, message: str) -> None:
        errors.setdefault(key, []).append(f"{key}: {message}")

    cleaned: dict[str, Any] = {}
    for key, value in definition.items():
        parser = PARSERS.get(key)
        if parser is None:
            fail(str(key), f"unknown filter (known filters: {', '.join(DEFINITION_KEYS)})")
            continue
        try:
            parsed = parser(value)
        except _Invalid as exc:
            fail(key, str(exc))
            continue
        if parsed not in ([], {}):
            cleaned[key] = parsed

    if "owner" in cleaned:
        if "owners" in definition:
            fail("owner", "give either owner or owners, not both")
        cleaned["owners"] = cleaned.pop("owner")
    low, high = cleaned.get("spend_min"), cleaned.get("spend_max")
    if low is not None and high is not None and Decimal(low) > Decimal(high):
        fail("spend_min", f"{low} is more than spend_max {high}")
    for thing, noun in (("purchased", "purchase"), ("interacted", "interaction")):
        within, not_for = cleaned.get(f"{thing}_within_days"), cleaned.get(f"not_{thing}_for_days")
        if within is not None and not_for is not None and not_for >= within:
            fail(
                f"not_{thing}_for_days",
                f"must be less than {thing}_within_days ({within}) or nobody matches; together they select a"
                f" window (e.g. {thing}_within_days 90 with not_{thing}_for_days 30: last {noun} 30–90 days ago)",
            )
    if errors:
        raise ValidationError(errors)
    return {key: cleaned[key] for key in DEFINITION_KEYS if key in cleaned}


# --- Evaluation ------------------------------------------------------------------------------------------
def _tag_exists(tags: list[Any]) -> Exists:
    through = Contact.tags.through.objects.filter(contact_id=OuterRef("pk"))
    ids = [t for t in tags if isinstance(t, int)]
    condition = Q(tag_id__in=ids) if ids else Q()
    for name in (t for t in tags if isinstance(t, str)):
        condition |= Q(tag__name__iexact=name)
    return Exists(through.filter(condition))


def _recency(field: str, days: int, now: dt.datetime, *, within: bool) -> Q:
    cutoff = now - dt.timedelta(days=days)
    if within:
        return Q(**{f"analysis__{field}__gte": cutoff})
    # A missing date (never, or no analysis row) counts as "not in the last N days".
    return Q(**{f"analysis__{field}__lt": cutoff}) | Q(**{f"analysis__{field}__isnull": True})


def segment_condition(definition: Mapping[str, Any], *, now: dt.datetime | None = None) -> Q:
    """The definition as one ``Q`` over ``Contact`` (apply it to any contact queryset).

    Meant for validated definitions (see the module docstring); unknown keys are refused rather than ignored,
    so a stored filter never silently widens.
    """
    unknown = sorted(set(definition) - set(DEFINITION_KEYS))
    if unknown:
        raise ValidationError({key: [f"{key}: unknown filter"] for key in unknown})
    now = now or timezone.now()
    q = Q()
    if stages := definition.get("stages"):
        q &= Q(stage__in=stages)
    if tags := definition.get("tags_any"):
        q &= Q(_tag_exists(tags))
    for tag in definition.get("tags_all") or []:
        q &= Q(_tag_exists([tag]))
    owners = list(definition.get("owners") or [])
    if definition.get("owner") is not None:
        owners.append(definition["owner"])
    if owners:
        q &= Q(owner_id__in=owners)
    if rfm := definition.get("rfm_segments"):
        q &= Q(analysis__segment__in=rfm)
    # Contacts without an analysis row have spent nothing, so they pass a maximum and a zero minimum.
    if definition.get("spend_min") is not None:
        low = Decimal(str(definition["spend_min"]))
        at_least = Q(analysis__total_spend__gte=low)
        q &= (at_least | Q(analysis__isnull=True)) if low <= 0 else at_least
    if definition.get("spend_max") is not None:
        q &= Q(analysis__total_spend__lte=Decimal(str(definition["spend_max"]))) | Q(analysis__isnull=True)
    for key, field, within in (
        ("purchased_within_days", "last_purchase_at", True),
        ("not_purchased_for_days", "last_purchase_at", False),
        ("interacted_within_days", "last_interaction_at", True),
        ("not_interacted_for_days", "last_interaction_at", False),
    ):
        if definition.get(key) is not None:
            q &= _recency(field, int(definition[key]), now, within=within)
    for key, value in (definition.get("attributes") or {}).items():
        # The explicit __exact keeps a key named like a lookup ("contains") a key.
        q &= Q(**{f"attributes__{key}__exact": value})
    if consent := definition.get("consent"):
        q &= Q(
            Exists(
                ContactConsent.objects.filter(
                    contact_id=OuterRef("pk"),
                    channel=consent["channel"],
                    status=consent.get("status", ContactConsent.Status.OPTED_IN),
                )
            )
        )
    return q


def segment_queryset(definition: Mapping[str, Any]) -> QuerySet[Contact]:
    """Alive contacts matching ``definition`` now: one SQL query, no duplicates."""
    return Contact.objects.filter(segment_condition(definition))


def segment_member_condition(segment: Segment, *, now: dt.datetime | None = None) -> Q:
    """Membership of ``segment`` as a ``Q`` over ``Contact``: its filter (dynamic) or its frozen list (static).
    Several OR-ed together are still one query (e.g. exporting the members of a few segments at once)."""
    if segment.kind == Segment.Kind.STATIC:
        return Q(Exists(SegmentMember.objects.filter(segment_id=segment.pk, contact_id=OuterRef("pk"))))
    return segment_condition(segment.definition or {}, now=now)


def segment_members(segment: Segment, *, within: QuerySet[Contact] | None = None) -> QuerySet[Contact]:
    """The segment's alive members: a dynamic one evaluated now, a static one its frozen list.

    ``within`` narrows a queryset the caller already has (the admin's, with its joins and prefetches)
    instead of starting from ``Contact.objects``.
    """
    contacts = Contact.objects.all() if within is None else within
    return contacts.filter(segment_member_condition(segment))


def segment_count(segment: Segment) -> int:
    return segment_members(segment).count()


def _snapshot_name(segment: Segment, at: dt.datetime) -> str:
    suffix = f" (snapshot {timezone.localtime(at):%Y-%m-%d %H:%M:%S})"
    return segment.name[: NAME_MAX - len(suffix)] + suffix


def segment_freeze(*, segment: Segment, name: str | None = None, actor: User | None = None) -> Segment:
    """Freeze ``segment``'s current members into a new static segment, all or nothing.

    1. Create the static segment (``frozen_from`` = ``segment``, ``frozen_at`` = now, the same definition kept
       for reference); 2. copy the member ids in pages of ``FREEZE_BATCH`` with ``bulk_create``.
    Raises ``ValidationError`` on ``name`` when a segment of that name exists.
    """
    now = timezone.now()
    name = (name or "").strip() or _snapshot_name(segment, now)
    if len(name) > NAME_MAX:
        raise ValidationError({"name": [f"name: at most {NAME_MAX} characters"]})
    taken = ValidationError({"name": [f"name: a segment called “{name}” already exists"]})
    if Segment.objects.filter(name=name).exists():
        raise taken
    # Evaluated once, so every page applies the same cut-off dates.
    members = segment_members(segment).order_by("pk").values_list("pk", flat=True)
    with transaction.atomic():
        try:
            with transaction.atomic():
                snapshot = Segment.objects.create(
                    name=name,
                    description=segment.description,
                    kind=Segment.Kind.STATIC,
                    definition=segment.definition,
                    frozen_from=segment,
                    frozen_at=now,
                    owner=actor,
                )
        except IntegrityError:  # the same name, saved by a concurrent request a moment ago
            raise taken from None
        # Paged by id rather than streamed: SQLite leaves reading a table while writing it undefined (freezing a
        # static segment reads and writes crm_segmentmember), and memory stays bounded for huge segments.
        last = 0
        while ids := list(members.filter(pk__gt=last)[:FREEZE_BATCH]):
            SegmentMember.objects.bulk_create(SegmentMember(segment=snapshot, contact_id=pk) for pk in ids)
            last = ids[-1]
    return snapshot
