"""Create and update a contact with its e-mail addresses, phones, consents, tags and custom attributes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from crm.attributes import validate_attributes
from crm.models import AttributeDefinition, Contact, ContactConsent, ContactEmail, ContactPhone, User
from crm.services.base import save_fields
from crm.services.writes import Errors, assign_fields, clean_into, tags_replace, upsert_by_external_id

CONTACT_FIELDS = (
    "first_name", "last_name", "company", "job_title", "owner", "stage", "source", "preferred_language",
    "external_id",
)  # fmt: skip
# Child collections: (data key, model, the column that identifies an item, its other columns)
CHILDREN: tuple[tuple[str, type[models.Model], str, tuple[str, ...]], ...] = (
    ("emails", ContactEmail, "email", ("label", "is_primary")),
    ("phones", ContactPhone, "number", ("label", "is_primary")),
    ("consents", ContactConsent, "channel", ("status", "recorded_at", "method", "note")),
)


def contact_create(*, data: dict[str, Any], actor: User | None) -> Contact:
    """Create a contact from validated API data (see ``_write``)."""
    return _write(Contact(), data, creating=True)


def contact_update(*, record: Contact, data: dict[str, Any], actor: User | None) -> Contact:
    """Change the keys present in ``data``; children lists given replace the stored ones; attributes merge."""
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=record.pk)
        return _write(locked, data, creating=False)


def contact_upsert(
    *, external_id: str, data: dict[str, Any], actor: User | None, check: Any = None
) -> tuple[Contact, bool]:
    return upsert_by_external_id(
        Contact, external_id=external_id, data=data, create=contact_create, update=contact_update, actor=actor,
        check=check,
    )  # fmt: skip


def contact_prepare(
    contact: Contact,
    data: dict[str, Any],
    *,
    creating: bool,
    definitions: list[AttributeDefinition] | None = None,
    constraints: bool = True,
) -> tuple[list[str], dict[str, list[models.Model]]]:
    """Steps 1 and 2 of ``_write``, shared with the bulk path (``crm.services.contact_bulk``) so that both
    validate alike: returns (changed field names, child rows by key) or raises one ``ValidationError``.

    ``definitions``: the attribute definitions, when the caller has loaded them once for a batch;
    ``constraints=False``: the unique checks were made for the whole batch (see ``clean_into``)."""
    errors: Errors = {}
    changed = assign_fields(contact, data, CONTACT_FIELDS)
    if "attributes" in data or creating:
        try:
            attributes = validate_attributes({**(contact.attributes or {}), **data.get("attributes", {})}, definitions)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        else:
            if attributes != contact.attributes:
                contact.attributes = attributes
                changed.append("attributes")
    clean_into(contact, errors, exclude=["search_name", "attributes"], constraints=constraints)
    children = {
        key: _children(data[key], model, ident, errors, constraints=constraints)
        for key, model, ident, _ in CHILDREN
        if key in data
    }
    if errors:
        raise ValidationError(errors)
    return changed, children


def _write(contact: Contact, data: dict[str, Any], *, creating: bool) -> Contact:
    """1. Assign fields and merge attributes (a key set to null or "" is removed); 2. validate the contact and
    every child item as the admin does, all errors at once; 3. save, then sync children and tags; 4. bump
    ``updated_at`` when only children or tags changed, so partners' sync sees the change."""
    changed, children = contact_prepare(contact, data, creating=creating)
    with transaction.atomic():
        if creating:
            contact.save()
        elif changed:
            save_fields(contact, changed)
        touched = False
        for key, model, ident, columns in CHILDREN:
            if key in children:
                touched |= _sync_children(contact, model, ident, columns, children[key], creating=creating)
        if "tags" in data:
            touched |= tags_replace(contact, data["tags"], creating=creating)
        if touched and not creating and not changed:
            save_fields(contact, [])
    return contact


def _children(
    items: list[dict[str, Any]], model: type[models.Model], ident: str, errors: Errors, *, constraints: bool
) -> list[models.Model]:
    """New child rows from ``items``, validated. (Their unique constraints all involve the contact, which is
    excluded here, so they are not checked either way; ``constraints=False`` spares building their queries.)"""
    rows = []
    seen: set[Any] = set()
    for index, item in enumerate(items):
        row = model(**item)
        prefix = f"{_key(model)}.{index}."
        clean_into(row, errors, prefix=prefix, exclude=["contact"], constraints=constraints)
        value = getattr(row, ident)
        if model is ContactEmail:
            value = row.email = value.strip().lower()  # type: ignore[attr-defined]
        if value in seen:
            errors.setdefault(f"{prefix}{ident}", []).append(f"{value} is listed twice.")
        seen.add(value)
        rows.append(row)
    if "is_primary" in {f.name for f in model._meta.fields} and rows:
        primaries = [r for r in rows if r.is_primary]  # type: ignore[attr-defined]
        if len(primaries) > 1:
            errors.setdefault(_key(model), []).append("Mark at most one item as primary.")
        elif not primaries:
            rows[0].is_primary = True  # type: ignore[attr-defined]
    return rows


def _key(model: type[models.Model]) -> str:
    return next(key for key, m, _, _ in CHILDREN if m is model)


def _sync_children(
    contact: Contact,
    model: type[models.Model],
    ident: str,
    columns: tuple[str, ...],
    rows: list[models.Model],
    *,
    creating: bool,
) -> bool:
    """Make the contact's ``model`` rows equal ``rows`` (matched by ``ident``); True when anything changed.
    Existing rows are updated in place rather than replaced, so the audit trail shows real changes."""
    manager: Any = model._default_manager  # type: ignore[attr-defined]
    existing = {} if creating else {getattr(r, ident): r for r in manager.filter(contact=contact)}
    wanted = {getattr(r, ident) for r in rows}
    changed = False
    for old_value, old in existing.items():
        if old_value not in wanted:
            old.delete()
            changed = True
    for row in rows:
        current = existing.get(getattr(row, ident))
        if current is None:
            row.contact = contact  # type: ignore[attr-defined]
            row.save()
            changed = True
            continue
        names = [c for c in columns if getattr(current, c) != getattr(row, c)]
        for name in names:
            setattr(current, name, getattr(row, name))
        if names:
            current.save(update_fields=names)
            changed = True
    return changed
