"""The write half of the contact import: planned rows in, one transaction of bulk statements out.

Bulk statements skip ``Model.save()``, so what ``save()`` derives is derived here: ``search_name`` (lower-cased
"first last" / company name), ``updated_at`` on updates (``auto_now`` only fires on save). E-mail addresses
arrive lower-cased and phones in E.164 from the checking half.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.importing.common import (
    AuditTrail,
    audit_value,
    chunked,
    existing_tags,
    field_name,
    insert_rows,
    m2m_added,
    update_rows,
)
from crm.importing.report import ImportReport, ProgressFactory, progress_bar
from crm.models import Company, Contact, ContactEmail, ContactPhone, User
from crm.services.tags import tags_get_or_create

BATCH = 1_000


@dataclass
class ContactPlan:
    """What one row does to one contact (``contact`` is the loaded row, already changed in memory, or a new one)."""

    row: int
    contact: Contact
    created: bool
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field (attname) -> (old, new)
    company_key: str = ""  # lower-cased name of a company this import creates for the contact
    company_name: str = ""
    new_emails: list[str] = field(default_factory=list)
    primary_email: bool = False  # the first new address becomes the primary one
    new_phones: list[str] = field(default_factory=list)
    primary_phone: bool = False
    new_tags: list[str] = field(default_factory=list)
    label: str = ""

    @property
    def action(self) -> str:
        if self.created:
            return "create"
        return "update" if (self.changed or self.new_emails or self.new_phones or self.new_tags) else "unchanged"

    def change_names(self) -> list[str]:
        names = [field_name(Contact, name) for name in self.changed]
        names += [
            n
            for n, items in (("emails", self.new_emails), ("phones", self.new_phones), ("tags", self.new_tags))
            if items
        ]
        return names


def write_contacts(
    plans: list[ContactPlan], *, report: ImportReport, actor: User | None, progress: ProgressFactory | None
) -> None:
    """Write every planned change in one transaction; an ``IntegrityError`` rolls all of it back.

    1. Tags missing from the database (``tags_get_or_create``: safe against a concurrent creation).
    2. Companies created by name.
    3. New contacts (``bulk_create``), then changed ones (``update_rows``, grouped by the set of changed fields).
    4. Added e-mail addresses, phones and tag links.
    5. One audit entry per created or changed contact and company.
    """
    creates = [p for p in plans if p.created]
    updates = [p for p in plans if p.action == "update"]
    bar = progress_bar(progress, "Writing", len(creates) + len(updates))
    trail = AuditTrail(actor=actor, source=report.source)
    now = timezone.now()
    with transaction.atomic():
        tag_ids = _tag_ids(plans)
        company_ids = _create_companies(plans, trail)
        for plan in creates + updates:
            contact = plan.contact
            if plan.company_key:
                contact.company_id = company_ids[plan.company_key]
                plan.changed["company_id"] = (plan.changed["company_id"][0], contact.company_id)
            contact.search_name = contact.full_name.lower()
        for batch in chunked(creates, BATCH):
            Contact.objects.bulk_create([p.contact for p in batch])
            bar.update(len(batch))
        groups: dict[tuple[str, ...], list[Contact]] = defaultdict(list)
        for plan in updates:
            plan.contact.updated_at = now
            names = {*plan.changed, "updated_at"}
            if {"first_name", "last_name"} & names:
                names.add("search_name")
            groups[tuple(sorted(names))].append(plan.contact)
        for fields, contacts in groups.items():
            update_rows(Contact, fields, contacts)
            bar.update(len(contacts))
        _add_children(creates + updates, tag_ids)
        for plan in creates + updates:
            trail.record(plan.contact, created=plan.created, changes=_changes(plan), row=plan.row)
        trail.save()
    bar.close()
    report.applied = True


def _tag_ids(plans: list[ContactPlan]) -> dict[str, int]:
    spelling: dict[str, str] = {}
    for plan in plans:
        for name in plan.new_tags:
            spelling.setdefault(name.lower(), name)
    ids = existing_tags(set(spelling))
    missing = [name for key, name in spelling.items() if key not in ids]
    ids.update((tag.name.lower(), tag.pk) for tag in tags_get_or_create(names=missing))
    return ids


def _create_companies(plans: list[ContactPlan], trail: AuditTrail) -> dict[str, int]:
    first_rows: dict[str, ContactPlan] = {}
    for plan in plans:
        if plan.company_key:
            first_rows.setdefault(plan.company_key, plan)
    companies = [Company(name=p.company_name, search_name=p.company_name.lower()) for p in first_rows.values()]
    for batch in chunked(companies, BATCH):
        Company.objects.bulk_create(batch)
    for company, plan in zip(companies, first_rows.values(), strict=True):
        trail.record(company, created=True, changes={"name": ["None", company.name]}, row=plan.row)
    return {key: company.pk for key, company in zip(first_rows, companies, strict=True)}


def _add_children(plans: list[ContactPlan], tag_ids: dict[str, int]) -> None:
    emails: list[tuple[int, str, str, bool]] = []
    phones: list[tuple[int, str, str, bool]] = []
    new_links: list[tuple[int, int]] = []
    links = []
    through = Contact.tags.through
    for plan in plans:
        pk = plan.contact.pk
        emails += [(pk, e, "", plan.primary_email and i == 0) for i, e in enumerate(plan.new_emails)]
        phones += [(pk, n, "", plan.primary_phone and i == 0) for i, n in enumerate(plan.new_phones)]
        if plan.created:
            new_links += [(pk, tag_ids[name.lower()]) for name in plan.new_tags]
        else:
            links += [through(contact_id=pk, tag_id=tag_ids[name.lower()]) for name in plan.new_tags]
    insert_rows(ContactEmail, ("contact", "email", "label", "is_primary"), emails)
    insert_rows(ContactPhone, ("contact", "number", "label", "is_primary"), phones)
    insert_rows(through, ("contact", "tag"), new_links)
    # ignore_conflicts: someone may have tagged the contact since the checks; the tag stays, once.
    through.objects.bulk_create(links, batch_size=2 * BATCH, ignore_conflicts=True)


def _changes(plan: ContactPlan) -> dict[str, Any]:
    changes: dict[str, Any] = {
        field_name(Contact, name): [audit_value(old), audit_value(new)] for name, (old, new) in plan.changed.items()
    }
    for name, items in (("emails", plan.new_emails), ("phones", plan.new_phones), ("tags", plan.new_tags)):
        if items:
            changes[name] = m2m_added(items)
    return changes
