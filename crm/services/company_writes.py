"""Create and update a company (and its tags)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.models import Company, User
from crm.services.base import save_fields
from crm.services.writes import Errors, assign_fields, clean_into, tags_replace, upsert_by_external_id

COMPANY_FIELDS = (
    "name", "domain", "industry", "size_band", "address_line1", "address_line2", "city", "region", "postal_code",
    "country", "phone", "owner", "notes", "external_id",
)  # fmt: skip
# Company.clean normalises these (domain lower-cased, country upper-cased, phone in E.164).
NORMALISED = ("domain", "country", "phone")


def company_create(*, data: dict[str, Any], actor: User | None) -> Company:
    return _write(Company(), data, creating=True)


def company_update(*, record: Company, data: dict[str, Any], actor: User | None) -> Company:
    with transaction.atomic():
        locked = Company.objects.select_for_update().get(pk=record.pk)
        return _write(locked, data, creating=False)


def company_upsert(
    *, external_id: str, data: dict[str, Any], actor: User | None, check: Any = None
) -> tuple[Company, bool]:
    return upsert_by_external_id(
        Company, external_id=external_id, data=data, create=company_create, update=company_update, actor=actor,
        check=check,
    )  # fmt: skip


def _write(company: Company, data: dict[str, Any], *, creating: bool) -> Company:
    before = {name: getattr(company, name) for name in NORMALISED}
    changed = assign_fields(company, data, COMPANY_FIELDS)
    errors: Errors = {}
    clean_into(company, errors, exclude=["search_name"])
    if errors:
        raise ValidationError(errors)
    changed = sorted({*changed, *(n for n in NORMALISED if getattr(company, n) != before[n])})
    with transaction.atomic():
        if creating:
            company.save()
        elif changed:
            save_fields(company, changed)
        if "tags" in data and tags_replace(company, data["tags"], creating=creating) and not creating and not changed:
            save_fields(company, [])
    return company
