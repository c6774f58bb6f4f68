"""Merging duplicate contacts (and companies) into one survivor, atomically."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from crm.merge import HANDLERS, register_merge_handler
from crm.models import Company, Contact, ContactConsent, ContactEmail, ContactPhone, SegmentMember, User
from crm.services.base import save_fields
from crm.webhooks.events import webhook_event

CONTACT_FILL_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "job_title",
    "owner",
    "source",
    "preferred_language",
    "external_id",
)
COMPANY_FILL_FIELDS = (
    "domain", "industry", "size_band", "address_line1", "address_line2", "city", "region", "postal_code",
    "country", "phone", "owner", "notes", "external_id",
)  # fmt: skip


@dataclass
class MergeResult:
    survivor: Any
    merged: list[Any]
    moved: Counter[str] = field(default_factory=Counter)
    filled: list[str] = field(default_factory=list)


def _check(survivor: Any, others: list[Any], label: str) -> None:
    if not others:
        raise ValidationError(f"Choose at least one other {label} to merge into {survivor}.")
    if any(o.pk == survivor.pk for o in others):
        raise ValidationError(f"A {label} cannot be merged into itself ({survivor}).")
    if survivor.deleted_at is not None:
        raise ValidationError(f"{survivor} is deleted; restore it or choose another {label} to keep.")
    deleted = [str(o) for o in others if o.deleted_at is not None]
    if deleted:
        raise ValidationError(f"Already deleted, cannot be merged: {', '.join(deleted)}.")


def _lock(model: type[models.Model], pks: list[int]) -> dict[int, Any]:
    # Locked in id order so two concurrent merges touching the same records cannot deadlock.
    rows = model._base_manager.select_for_update().filter(pk__in=pks).order_by("pk")  # type: ignore[attr-defined]
    return {row.pk: row for row in rows}


def _move_related(source: Any, survivor: Any, result: MergeResult, skip: set[str]) -> None:
    """Re-point every row of every app that references ``source`` (handlers first, then plain updates)."""
    now = timezone.now()
    for rel in type(source)._meta.related_objects:
        if rel.many_to_many or rel.related_model is type(source):
            continue
        label = rel.related_model._meta.label_lower
        if label in skip:
            continue
        if label in HANDLERS:
            result.moved[label] += HANDLERS[label](source, survivor)
            continue
        manager = rel.related_model._base_manager
        if rel.one_to_one:
            # Per-record derived rows (the customer analysis): the survivor's is recomputed; drop the source's.
            manager.filter(**{rel.field.name: source}).delete()
            continue
        changes: dict[str, Any] = {rel.field.name: survivor}
        if any(f.name == "updated_at" for f in rel.related_model._meta.concrete_fields):
            changes["updated_at"] = now  # partners' incremental sync must see the moved rows
        result.moved[label] += manager.filter(**{rel.field.name: source}).update(**changes)


def _fill(survivor: Any, source: Any, fields: tuple[str, ...], result: MergeResult) -> list[str]:
    filled = []
    for name in fields:
        if getattr(survivor, name) in (None, "") and getattr(source, name) not in (None, ""):
            if name == "external_id":  # unique: release it on the source first
                value, source.external_id = source.external_id, None
                save_fields(source, ["external_id"])
                setattr(survivor, name, value)
            else:
                setattr(survivor, name, getattr(source, name))
            filled.append(name)
    result.filled.extend(f for f in filled if f not in result.filled)
    return filled


def _retire(source: Any, survivor: Any, actor: User | None) -> None:
    type(source)._base_manager.filter(merged_into=source).update(merged_into=survivor)  # keep chains pointing home
    source.deleted_at, source.deleted_by, source.merged_into = timezone.now(), actor, survivor
    save_fields(source, ["deleted_at", "deleted_by", "merged_into"])
    webhook_event(record=source, action="merged", deleted_at=source.deleted_at, merged_into=survivor.pk)


def _log(survivor: Any, merged: list[Any], actor: User | None) -> None:
    names = ", ".join(f"{o} (#{o.pk})" for o in merged)
    LogEntry.objects.log_create(survivor, action=LogEntry.Action.UPDATE, changes={"merged": ["", names]}, actor=actor)


def contacts_merge(*, survivor: Contact, others: list[Contact], actor: User | None = None) -> MergeResult:
    """Merge ``others`` into ``survivor``; nothing changes if any step fails.

    1. Lock all records (id order) and refuse a merge into itself, into or of a deleted contact.
    2. For each other contact: move addresses and phones (dropping ones the survivor already has), consent
       (per channel the most recently recorded wins), tags, custom attributes (the survivor's values win),
       segment memberships, and every row any app attaches to contacts (interactions, orders, identities,
       conversations, … via ``crm.merge`` handlers or a plain re-point).
    3. Fill the survivor's empty fields from the others, never overwriting.
    4. Soft-delete the others with a pointer to the survivor, and record the merge in the history.
    """
    with transaction.atomic():
        rows = _lock(Contact, [survivor.pk, *[o.pk for o in others]])
        survivor = rows[survivor.pk]
        sources = [rows[o.pk] for o in others if o.pk in rows]
        _check(survivor, sources if len(sources) == len(others) else others, "contact")
        result = MergeResult(survivor=survivor, merged=sources)
        for source in sources:
            survivor.tags.add(*source.tags.all())
            survivor.attributes = {**(source.attributes or {}), **(survivor.attributes or {})}
            _move_related(source, survivor, result, skip=set())
            filled = _fill(survivor, source, CONTACT_FILL_FIELDS, result)
            _retire(source, survivor, actor)
            save_fields(survivor, [*filled, "attributes"])
        _log(survivor, sources, actor)
    return result


def companies_merge(*, survivor: Company, others: list[Company], actor: User | None = None) -> MergeResult:
    """Merge ``others`` into ``survivor`` the same way as contacts (contacts, interactions, orders move)."""
    with transaction.atomic():
        rows = _lock(Company, [survivor.pk, *[o.pk for o in others]])
        survivor = rows[survivor.pk]
        sources = [rows[o.pk] for o in others if o.pk in rows]
        _check(survivor, sources if len(sources) == len(others) else others, "company")
        result = MergeResult(survivor=survivor, merged=sources)
        for source in sources:
            survivor.tags.add(*source.tags.all())
            _move_related(source, survivor, result, skip=set())
            filled = _fill(survivor, source, COMPANY_FILL_FIELDS, result)
            _retire(source, survivor, actor)
            save_fields(survivor, filled)
        _log(survivor, sources, actor)
    return result


# --- crm's own rows with per-contact uniqueness ------------------------------------------------------------


def _move_unique(model: type[models.Model], key: str) -> Any:
    def handler(source: Contact, survivor: Contact) -> int:
        taken = set(model._base_manager.filter(contact=survivor).values_list(key, flat=True))  # type: ignore[attr-defined]
        model._base_manager.filter(contact=source, **{f"{key}__in": taken}).delete()  # type: ignore[attr-defined]
        extra = {"is_primary": False} if any(f.name == "is_primary" for f in model._meta.fields) else {}
        return int(model._base_manager.filter(contact=source).update(contact=survivor, **extra))  # type: ignore[attr-defined]

    return handler


def _move_consents(source: Contact, survivor: Contact) -> int:
    moved = 0
    kept = {c.channel: c for c in ContactConsent.objects.filter(contact=survivor)}
    for consent in ContactConsent.objects.filter(contact=source):
        current = kept.get(consent.channel)
        if current is None or consent.recorded_at > current.recorded_at:
            if current is not None:
                current.delete()
            consent.contact = survivor
            consent.save(update_fields=["contact"])
            moved += 1
        else:
            consent.delete()
    return moved


register_merge_handler("crm.contactemail", _move_unique(ContactEmail, "email"))
register_merge_handler("crm.contactphone", _move_unique(ContactPhone, "number"))
register_merge_handler("crm.segmentmember", _move_unique(SegmentMember, "segment_id"))
register_merge_handler("crm.contactconsent", _move_consents)
