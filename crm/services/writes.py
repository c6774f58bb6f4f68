"""What creating and updating a contact or company share: field assignment, the admin's validation rules
(``full_clean``: field validators, the model's ``clean``, unique constraints), tags, and upsert by external id.

Errors are raised as one ``ValidationError`` keyed by field (children as ``emails.1.email``), before anything
is written, so a refused write leaves no trace."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from crm.models import Tag
from crm.services.tags import tags_get_or_create

M = TypeVar("M", bound=models.Model)
Errors = dict[str, list[str]]


def assign_fields(record: models.Model, data: dict[str, Any], names: Iterable[str]) -> list[str]:
    """Set the ``names`` present in ``data`` on ``record``; return those whose value changed."""
    changed = []
    for name in names:
        if name in data and getattr(record, name) != data[name]:
            setattr(record, name, data[name])
            changed.append(name)
    return changed


def clean_into(
    record: models.Model, errors: Errors, *, prefix: str = "", exclude: Iterable[str] = (), constraints: bool = True
) -> None:
    """``record.full_clean()`` (what the admin form runs), its messages added to ``errors`` under ``prefix``.

    ``constraints=False`` leaves out the unique checks (a query each), for a caller that has checked them for a
    whole batch at once (``crm.services.contact_bulk``)."""
    try:
        record.full_clean(exclude=list(exclude), validate_unique=constraints, validate_constraints=constraints)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            name = "" if field == "__all__" else field
            errors.setdefault(f"{prefix}{name}" if name else prefix.rstrip(".") or "__all__", []).extend(messages)


def unique_tag_names(names: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for raw in names:
        name = " ".join(raw.split())
        if name and name.lower() not in seen:
            seen[name.lower()] = name
    return list(seen.values())


def tags_replace(record: Any, names: list[str], *, creating: bool = False) -> bool:
    """Give ``record`` exactly the tags ``names`` (new ones created); True when its tags changed."""
    tags: list[Tag] = tags_get_or_create(names=unique_tag_names(names))
    if creating:
        if tags:
            record.tags.add(*tags)  # a new record has no links: add() spares set()'s read of the current ones
        return bool(tags)
    if set(record.tags.values_list("pk", flat=True)) == {t.pk for t in tags}:
        return False
    record.tags.set(tags)
    return True


def upsert_by_external_id(
    model: type[M],
    *,
    external_id: str,
    data: dict[str, Any],
    create: Callable[..., M],
    update: Callable[..., M],
    actor: Any,
    check: Callable[[M], None] | None = None,
    key_field: str = "external_id",
) -> tuple[M, bool]:
    """Update the record with ``external_id`` or create it; returns (record, created).

    1. Lock the record with that external id (deleted ones too: a deleted record is refused, restore it first).
    2. ``check`` (e.g. the If-Match precondition) runs on the locked row.
    3. Create in a savepoint; when a concurrent request created it first (unique constraint), update that one.
    """
    data = {**data, key_field: external_id}
    manager: Any = model._base_manager  # type: ignore[attr-defined]
    with transaction.atomic():
        existing = manager.select_for_update().filter(**{key_field: external_id}).first()
        if existing is None:
            if check is not None:
                check(None)  # type: ignore[arg-type]
            try:
                with transaction.atomic():
                    return create(data=data, actor=actor), True
            except IntegrityError:
                existing = manager.select_for_update().filter(**{key_field: external_id}).first()
                if existing is None:
                    raise
        if getattr(existing, "deleted_at", None) is not None:
            label = model._meta.verbose_name
            raise ValidationError(
                {"external_id": f"The {label} with this external id is deleted; restore it before writing to it."},
                code="deleted",
            )
        if check is not None:
            check(existing)
        return update(record=existing, data=data, actor=actor), False
