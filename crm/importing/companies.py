"""Import companies: the same contract as contacts (see ``crm.importing.contacts``), on the company columns.

Columns: external_id, name, domain, industry, size_band, phone, address_line1, address_line2, postal_code,
city, region, country, owner, tags. Required column: ``name``.

- Matching: by ``external_id`` (a deleted company's is an error), else by name among alive companies
  (case-insensitive; several companies of that name is an error), else the row creates a company (it needs
  a name). Two rows may not share an external id or point at the same company.
- Cells are cleaned as the company form cleans them: the domain lower-cased without ``https://`` and trailing
  ``/``, the country upper-cased (two letters), the phone in E.164, ``size_band`` by value or label.
- Empty cells leave stored values; tags are added, never removed; nothing is written unless every row is fine.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.importing.common import (
    INFO_COLUMNS,
    AuditTrail,
    Errors,
    audit_value,
    check_header,
    chunked,
    clean_choice,
    clean_text,
    existing_tags,
    field_name,
    in_chunk_size,
    m2m_added,
    staff_by_key,
    update_rows,
)
from crm.importing.readers import Table
from crm.importing.report import SAMPLE_ROWS, ImportReport, ProgressFactory, RowError, RowPlan, progress_bar
from crm.models import Company, User
from crm.phones import normalize_phone
from crm.services.tags import parse_tag_names, tags_get_or_create

COMPANY_COLUMNS = (
    "external_id", "name", "domain", "industry", "size_band", "phone", "address_line1", "address_line2",
    "postal_code", "city", "region", "country", "owner", "tags",
)  # fmt: skip
TEXT_FIELDS = ("external_id", "name", "industry", "address_line1", "address_line2", "postal_code", "city", "region")
BATCH = 1_000


@dataclass
class _Plan:
    row: int
    company: Company
    created: bool
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    new_tags: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        return "create" if self.created else "update" if (self.changed or self.new_tags) else "unchanged"


def companies_import(
    *, table: Table, actor: User | None = None, dry_run: bool = False, progress: ProgressFactory | None = None
) -> ImportReport:
    """Check every row, then write them all in one transaction unless there is an error or it is a dry run."""
    report = ImportReport(kind="companies", source=table.name, dry_run=dry_run, total_rows=len(table.rows))
    errors = Errors()
    ignored = check_header(table, known={*COMPANY_COLUMNS, *INFO_COLUMNS}, needs=(("name",),), errors=errors)
    if errors:
        report.errors = errors.sorted()
        return report
    if ignored:
        report.warnings.append(f"Ignored column(s): {', '.join(ignored)}.")
    for number, column, message in table.row_errors:
        errors.add(number, column, message)
    bar = progress_bar(progress, "Checking rows", len(table.rows))
    cleaned: list[tuple[int, dict[str, Any], str, list[str]]] = []
    for number, cells in table.rows:
        values = _clean(number, cells, errors)
        cleaned.append((number, values, cells.get("owner", "").lower(), parse_tag_names(cells.get("tags", ""))))
        bar.update(1)
    bar.close()
    plans = _plan(cleaned, errors, report)
    report.samples = [
        RowPlan(p.row, p.action, p.company.name, (*p.changed, *(["tags"] if p.new_tags else [])))
        for p in plans[:SAMPLE_ROWS]
    ]
    report.created = sum(p.action == "create" for p in plans)
    report.updated = sum(p.action == "update" for p in plans)
    report.unchanged = sum(p.action == "unchanged" for p in plans)
    if errors:
        report.errors = errors.sorted()
    elif not dry_run:
        try:
            _write(plans, report=report, actor=actor, progress=progress)
        except IntegrityError as exc:
            report.errors = [RowError(None, "", f"The database refused the import ({exc}); nothing was imported.")]
    return report


def _clean(number: int, cells: dict[str, str], errors: Errors) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if value := cells.get(name, ""):
            values[name] = clean_text(Company, name, value, number, errors)
    if domain := cells.get("domain", ""):
        domain = domain.lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        values["domain"] = clean_text(Company, "domain", domain, number, errors)
    if country := cells.get("country", ""):
        if len(country) != 2 or not country.isalpha():
            errors.add(number, "country", f"“{country}” is not a two-letter country code such as DE")
        values["country"] = country.upper()
    if size_band := cells.get("size_band", ""):
        values["size_band"] = clean_choice(size_band, Company.SizeBand.choices, number, "size_band", errors)
    if phone := cells.get("phone", ""):
        try:
            values["phone"] = normalize_phone(phone)
        except ValidationError as exc:
            errors.add(number, "phone", exc.messages[0])
    if not (cells.get("external_id") or cells.get("name")):
        errors.add(number, "name", "each row needs a name or an external_id to match companies on")
    return values


def _plan(rows: list[tuple[int, dict[str, Any], str, list[str]]], errors: Errors, report: ImportReport) -> list[_Plan]:
    size = in_chunk_size()
    by_external: dict[str, Company] = {}
    for chunk in chunked(sorted({v["external_id"] for _, v, _, _ in rows if v.get("external_id")}), size):
        by_external.update((c.external_id, c) for c in Company.all_objects.filter(external_id__in=chunk))
    by_name: dict[str, list[Company]] = defaultdict(list)
    for chunk in chunked(sorted({v["name"].lower() for _, v, _, _ in rows if v.get("name")}), size):
        for found in Company.objects.filter(search_name__in=chunk):
            by_name[found.search_name].append(found)
    targets = [c.pk for c in by_external.values()] + [c.pk for cs in by_name.values() for c in cs]
    linked: dict[int, set[int]] = defaultdict(set)
    through = Company.tags.through
    for chunk in chunked(targets, size):
        for pk, tag_id in through.objects.filter(company_id__in=chunk).values_list("company_id", "tag_id"):
            linked[pk].add(tag_id)
    owners = staff_by_key({owner for _, _, owner, _ in rows if owner})
    spelling: dict[str, str] = {}
    for _, _, _, tags in rows:
        for tag in tags:
            spelling.setdefault(tag.lower(), tag)
    tag_ids = existing_tags(set(spelling))
    report.tags_created = [name for key, name in spelling.items() if key not in tag_ids]

    plans: list[_Plan] = []
    seen_external: dict[str, int] = {}
    seen_target: dict[int, int] = {}
    seen_new_name: dict[str, int] = {}
    for number, values, owner, tags in rows:
        external_id, name = values.get("external_id"), values.get("name", "")
        company: Company | None = None
        if external_id:
            if external_id in seen_external:
                errors.add(number, "external_id", f"the same external id as row {seen_external[external_id]}")
                continue
            seen_external[external_id] = number
            company = by_external.get(external_id)
            if company is not None and company.deleted_at is not None:
                errors.add(number, "external_id", f"belongs to deleted company #{company.pk}; restore it first")
                continue
        if company is None and name:
            matches = by_name.get(name.lower(), [])
            if len(matches) > 1:
                errors.add(number, "name", f"{len(matches)} companies have this name; add their external_id")
                continue
            if matches and external_id and matches[0].external_id not in (None, external_id):
                errors.add(number, "external_id", f"company #{matches[0].pk} of this name has another external id")
                continue
            company = matches[0] if matches else None
            if company is not None:
                values.pop("name")  # the name matched (in any case): it is the key, not a change
        if owner and owner not in owners:
            errors.add(number, "owner", f"no staff member has the username or e-mail address “{owner}”")
        if company is None:
            if not name:
                errors.add(number, "name", "a new company needs a name")
                continue
            first = seen_new_name.setdefault(name.lower(), number)
            if first != number:
                errors.add(number, "name", f"row {first} creates a company with the same name")
                continue
        else:
            first = seen_target.setdefault(company.pk, number)
            if first != number:
                errors.add(number, "name", f"matches the same company as row {first}")
                continue
        if number in errors.rows:
            continue
        plan = _Plan(row=number, company=company or Company(), created=company is None)
        if owner:
            values["owner_id"] = owners[owner]
        for column, value in values.items():
            old = getattr(plan.company, column)
            if plan.created or old != value:
                plan.changed[column] = (None if plan.created else old, value)
                setattr(plan.company, column, value)
        have = linked.get(plan.company.pk, set()) if not plan.created else set()
        plan.new_tags = [t for t in tags if t.lower() not in tag_ids or tag_ids[t.lower()] not in have]
        plans.append(plan)
    return plans


def _write(plans: list[_Plan], *, report: ImportReport, actor: User | None, progress: ProgressFactory | None) -> None:
    creates = [p for p in plans if p.created]
    updates = [p for p in plans if p.action == "update"]
    bar = progress_bar(progress, "Writing", len(creates) + len(updates))
    trail = AuditTrail(actor=actor, source=report.source)
    now = timezone.now()
    with transaction.atomic():
        spelling = {t.lower(): t for p in plans for t in p.new_tags}
        tag_ids = existing_tags(set(spelling))
        missing = [name for key, name in spelling.items() if key not in tag_ids]
        tag_ids.update((t.name.lower(), t.pk) for t in tags_get_or_create(names=missing))
        for plan in creates + updates:
            plan.company.search_name = plan.company.name.lower()
        for batch in chunked(creates, BATCH):
            Company.objects.bulk_create([p.company for p in batch])
            bar.update(len(batch))
        groups: dict[tuple[str, ...], list[Company]] = defaultdict(list)
        for plan in updates:
            plan.company.updated_at = now
            names = {*plan.changed, "updated_at"} | ({"search_name"} if "name" in plan.changed else set())
            groups[tuple(sorted(names))].append(plan.company)
        for fields, companies in groups.items():
            update_rows(Company, fields, companies)
            bar.update(len(companies))
        through = Company.tags.through
        links = [through(company_id=p.company.pk, tag_id=tag_ids[t.lower()]) for p in plans for t in p.new_tags]
        through.objects.bulk_create(links, batch_size=2 * BATCH, ignore_conflicts=True)
        for plan in creates + updates:
            changes: dict[str, Any] = {
                field_name(Company, name): [audit_value(old), audit_value(new)]
                for name, (old, new) in plan.changed.items()
            }
            if plan.new_tags:
                changes["tags"] = m2m_added(plan.new_tags)
            trail.record(plan.company, created=plan.created, changes=changes, row=plan.row)
        trail.save()
    bar.close()
    report.applied = True
