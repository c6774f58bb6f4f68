"""Bulk upsert of contacts by external id, set-based: a batch of 500 costs a few dozen queries, not 20 per record.

The per-record path (``contact_upsert``) spends most of its time on round trips: a savepoint, a locked read, a
unique check, the attribute definitions, an INSERT per row and child row, two tag look-ups and an audit INSERT
per row, for every record. Here the same work is done once per batch:

1. Read the batch's existing contacts (locked, deleted ones too), their children and tags (of the kinds the
   batch gives, one query each), and the attribute definitions, once.
2. Validate every record with ``contact_prepare``, the very code the single-record path runs (so the rules and
   messages are the same); the external id's uniqueness, which that code checks with a query per record, is
   settled by step 1 and by the caller refusing a key listed twice. A refused record is left out of step 3:
   it leaves nothing behind, the others are kept.
3. Write set-wise: insert the new contacts, child rows and tag links and update the changed ones with one
   statement each (``crm.services.bulk_sql``), delete the removed child rows and tag links in one statement
   each, create the batch's new tags once.
4. Tell ``post_save`` listeners (outbound webhooks) about every contact written, as ``save()`` would.
5. Audit: one log entry per change, as django-auditlog writes them on the single-record path (a contact's
   creation or changed fields, each child row created, changed or deleted, tags added or removed), built with
   auditlog's rules (``crm.services.bulk_audit``) and stamped by the same ``pre_save`` receivers (the actor,
   and the API key as origin), then inserted with one ``COPY``.

The caller runs this in a savepoint and falls back to the per-record path if the database refuses the batch (a
concurrent request created one of its external ids between step 1 and step 3).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from auditlog.context import disable_auditlog
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import post_save
from django.utils import timezone

from crm.models import AttributeDefinition, Contact, Tag, User
from crm.services.bulk_audit import audit_diff, audit_entry, audit_write
from crm.services.bulk_sql import among, insert_rows, update_rows
from crm.services.contact_writes import CHILDREN, contact_prepare
from crm.services.tags import tags_get_or_create
from crm.services.writes import unique_tag_names

DELETED = "The contact with this external id is deleted; restore it before writing to it."


@dataclass
class _Plan:
    """One valid record: what to write and what to log."""

    contact: Contact
    before: Contact | None  # the stored row before the change (None: created)
    changed: list[str]
    children: dict[str, list[models.Model]]
    tags: list[Tag] | None  # None: tags not given
    stored_children: dict[str, list[models.Model]]  # by key: the stored rows (kinds given in the batch)
    stored_tags: list[Tag]  # the stored tags (when the batch gives tags)
    touched: bool = False
    entries: list[LogEntry] = field(default_factory=list)


def contacts_bulk_upsert(
    *, items: list[tuple[str, dict[str, Any]]], actor: User | None
) -> list[tuple[Contact, bool] | ValidationError]:
    """Upsert ``items`` (external id, validated data), external ids distinct; per item (contact, created) or
    the ``ValidationError`` that refused it. Run it inside a transaction (see the module's docstring)."""
    definitions = list(AttributeDefinition.objects.all())
    existing = {
        c.external_id: c
        for c in Contact._base_manager.select_for_update().filter(
            among(Contact, "external_id", [external_id for external_id, _ in items], "text")
        )
    }
    stored_children, stored_tags = _stored(list(existing.values()), [data for _, data in items])
    tags = _tags_by_name(data.get("tags") for _, data in items)
    results: list[tuple[Contact, bool] | ValidationError] = []
    plans: list[_Plan] = []
    for external_id, data in items:
        stored = existing.get(external_id)
        if stored is not None and stored.deleted_at is not None:
            results.append(ValidationError({"external_id": DELETED}, code="deleted"))
            continue
        contact = Contact() if stored is None else copy.copy(stored)
        try:
            changed, children = contact_prepare(
                contact, {**data, "external_id": external_id}, creating=stored is None, definitions=definitions,
                constraints=False,
            )  # fmt: skip
        except ValidationError as exc:
            results.append(exc)
            continue
        wanted = data.get("tags")
        plan_tags = None if wanted is None else [tags[name.lower()] for name in unique_tag_names(wanted)]
        if stored is None:
            kept: dict[str, list[models.Model]] = {key: [] for key in stored_children}
            kept_tags: list[Tag] = []
        else:
            kept = {key: rows.get(stored.pk, []) for key, rows in stored_children.items()}
            kept_tags = stored_tags.get(stored.pk, [])
        plans.append(_Plan(contact, stored, changed, children, plan_tags, kept, kept_tags))
        results.append((contact, stored is None))
    with disable_auditlog():  # the entries are written below, in one statement
        _write_contacts(plans)
        _write_children(plans)
        _write_tags(plans)
        _stamp_updated(plans)
        _announce(plans)
    audit_write([entry for plan in plans for entry in plan.entries])
    return results


def _stored(
    contacts: list[Contact], batch: list[dict[str, Any]]
) -> tuple[dict[str, dict[int, list[models.Model]]], dict[int, list[Tag]]]:
    """The stored child rows (by key, then contact id) and tags (by contact id) of ``contacts``, for the kinds
    the batch gives: one query each. (``prefetch_related`` would build a queryset per contact and kind, which
    cost more than the rest of an update.)"""
    ids = [c.pk for c in contacts]
    children: dict[str, dict[int, list[models.Model]]] = {}
    for key, model, _ident, _columns in CHILDREN:
        if any(key in data for data in batch):
            children[key] = defaultdict(list)
            if ids:
                manager: Any = model._default_manager  # type: ignore[attr-defined]
                for row in manager.filter(among(model, "contact_id", ids, "bigint")):
                    children[key][row.contact_id].append(row)
    tags: dict[int, list[Tag]] = defaultdict(list)
    if ids and any("tags" in data for data in batch):
        through: Any = Contact.tags.through
        for link in through.objects.filter(among(through, "contact_id", ids, "bigint")).select_related("tag"):
            tags[link.contact_id].append(link.tag)
    return children, tags


def _announce(plans: list[_Plan]) -> None:
    """``post_save`` for every contact written, as ``save()`` would send it, so that its listeners (outbound
    webhooks: contact.created / contact.updated) hear of bulk writes too; the audit log's own listener is
    off here (``disable_auditlog``), its entries are written by ``audit_write``."""
    for plan in plans:
        if plan.before is None:
            post_save.send(sender=Contact, instance=plan.contact, created=True, update_fields=None, raw=False,
                           using="default")  # fmt: skip
        elif plan.changed or plan.touched:
            fields = frozenset({"updated_at", "search_name", *plan.changed})
            post_save.send(sender=Contact, instance=plan.contact, created=False, update_fields=fields, raw=False,
                           using="default")  # fmt: skip


def _tags_by_name(lists: Iterable[Any]) -> dict[str, Tag]:
    """The batch's tags (missing ones created) by lower-cased requested name, each looked up once."""
    names = unique_tag_names(name for names in lists if names for name in names)
    return dict(zip([name.lower() for name in names], tags_get_or_create(names=names), strict=True))


def _write_contacts(plans: list[_Plan]) -> None:
    new = [p.contact for p in plans if p.before is None]
    for contact in new:
        contact.search_name = contact.full_name.lower()  # what Contact.save() sets
    insert_rows(new)
    for plan in plans:
        if plan.before is None:
            plan.entries.append(audit_entry(plan.contact, LogEntry.Action.CREATE, audit_diff(None, plan.contact)))
        elif plan.changed:
            changes = audit_diff(plan.before, plan.contact, fields_to_check=plan.changed)
            if changes:
                plan.entries.append(audit_entry(plan.contact, LogEntry.Action.UPDATE, changes))


def _write_children(plans: list[_Plan]) -> None:
    for key, model, ident, columns in CHILDREN:
        manager: Any = model._default_manager  # type: ignore[attr-defined]
        inserts: list[models.Model] = []
        updates: list[models.Model] = []
        update_fields: set[str] = set()
        deletes: list[models.Model] = []
        for plan in plans:
            if key not in plan.children:
                continue
            rows = plan.children[key]
            stored = {getattr(r, ident): r for r in plan.stored_children[key]}
            wanted = {getattr(r, ident) for r in rows}
            for value, old in stored.items():
                if value not in wanted:
                    deletes.append(old)
                    plan.entries.append(audit_entry(old, LogEntry.Action.DELETE, audit_diff(old, None)))
                    plan.touched = True
            for row in rows:
                current = stored.get(getattr(row, ident))
                if current is None:
                    row.contact = plan.contact  # type: ignore[attr-defined]
                    inserts.append(row)
                    plan.touched = True
                    continue
                names = [c for c in columns if getattr(current, c) != getattr(row, c)]
                if names:
                    before = copy.copy(current)
                    for name in names:
                        setattr(current, name, getattr(row, name))
                    updates.append(current)
                    update_fields.update(names)
                    changes = audit_diff(before, current, fields_to_check=names)
                    if changes:
                        plan.entries.append(audit_entry(current, LogEntry.Action.UPDATE, changes))
                    plan.touched = True
        if deletes:
            manager.filter(pk__in=[row.pk for row in deletes]).delete()
        if updates:
            manager.bulk_update(updates, sorted(update_fields))
        if inserts:
            insert_rows(inserts)
            by_contact = {id(p.contact): p for p in plans}
            for row in inserts:
                owner = by_contact[id(row.contact)]  # type: ignore[attr-defined]
                owner.entries.append(audit_entry(row, LogEntry.Action.CREATE, audit_diff(None, row)))


def _write_tags(plans: list[_Plan]) -> None:
    through: Any = Contact.tags.through
    links, removed = [], []
    for plan in plans:
        if plan.tags is None:
            continue
        wanted = {tag.pk: tag for tag in plan.tags}
        stored = {tag.pk: tag for tag in plan.stored_tags}
        gone = [tag for pk, tag in stored.items() if pk not in wanted]
        added = [tag for pk, tag in wanted.items() if pk not in stored]
        # As Manager.set() logs them: removals first, then additions, each list in the tags' own order.
        for operation, changed in (("delete", gone), ("add", added)):
            if changed:
                names = [str(tag) for tag in sorted(changed, key=lambda t: t.name)]
                plan.entries.append(
                    audit_entry(
                        plan.contact, LogEntry.Action.UPDATE,
                        {"tags": {"type": "m2m", "operation": operation, "objects": names}},
                    )
                )  # fmt: skip
        removed += [(plan.contact.pk, tag.pk) for tag in gone]
        links += [through(contact_id=plan.contact.pk, tag_id=tag.pk) for tag in added]
        # A new contact's tags are part of its creation; an existing one's changed tags bump updated_at.
        plan.touched |= bool(plan.before is not None and (gone or added))
    if removed:
        condition = models.Q()
        for contact_id, tag_id in removed:
            condition |= models.Q(contact_id=contact_id, tag_id=tag_id)
        through.objects.filter(condition).delete()
    insert_rows(links)


def _stamp_updated(plans: list[_Plan]) -> None:
    """Existing contacts that changed (fields, children or tags) get a new ``updated_at``, in one statement,
    as ``save_fields`` gives them on the single-record path; the search name follows a changed name."""
    changed = [p for p in plans if p.before is not None and (p.changed or p.touched)]
    if not changed:
        return
    now = timezone.now()
    fields = {"updated_at", *(name for p in changed for name in p.changed)}
    for plan in changed:
        plan.contact.updated_at = now
        plan.contact.search_name = plan.contact.full_name.lower()
    fields.add("search_name")
    update_rows([p.contact for p in changed], sorted(fields))
