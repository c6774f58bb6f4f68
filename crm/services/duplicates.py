"""Likely duplicate contacts and companies, with the reason they look alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import Lower

from crm.models import Company, Contact, ContactEmail, ContactPhone

CONTACT_REASONS = {
    "email": "Same e-mail address",
    "phone": "Same phone number",
    "name": "Same name at the same company",
}
COMPANY_REASONS = {"domain": "Same web domain", "name": "Same name"}


@dataclass(frozen=True)
class DuplicateGroup:
    reason: str
    shared: str
    members: list[Any]


def contact_duplicate_keys(reason: str) -> QuerySet[Any]:
    """One row per shared value (``key``) with at least two alive contacts, most duplicated first."""
    rows: QuerySet[Any]
    if reason == "email":
        rows = ContactEmail.objects.filter(contact__deleted_at__isnull=True).values(key=Lower("email"))
        return rows.annotate(n=Count("contact", distinct=True)).filter(n__gt=1).order_by("-n", "key")
    if reason == "phone":
        rows = ContactPhone.objects.filter(contact__deleted_at__isnull=True).values(key=Lower("number"))
        return rows.annotate(n=Count("contact", distinct=True)).filter(n__gt=1).order_by("-n", "key")
    if reason == "name":
        rows = Contact.objects.filter(company__isnull=False).exclude(search_name="").values("search_name", "company_id")
        return rows.annotate(n=Count("id")).filter(n__gt=1).order_by("-n", "search_name")
    raise ValueError(f"reason must be one of {', '.join(CONTACT_REASONS)}")


def contact_duplicate_groups(reason: str, keys: list[dict[str, Any]]) -> list[DuplicateGroup]:
    """The contacts behind one page of keys, fetched in one query (plus prefetches), not one per group."""
    contacts = Contact.objects.select_related("company").prefetch_related("emails", "phones")
    if reason == "email":
        values = [k["key"] for k in keys]
        found = contacts.filter(emails__email__in=values).distinct()
        by_key = {v: [c for c in found if v in {e.email for e in c.emails.all()}] for v in values}
    elif reason == "phone":
        values = [k["key"] for k in keys]
        found = contacts.filter(phones__number__in=values).distinct()
        by_key = {v: [c for c in found if v in {p.number for p in c.phones.all()}] for v in values}
    else:
        names = {k["search_name"] for k in keys}
        found = contacts.filter(search_name__in=names, company_id__in={k["company_id"] for k in keys})
        by_key = {}
        for k in keys:
            members = [c for c in found if c.search_name == k["search_name"] and c.company_id == k["company_id"]]
            company = members[0].company if members else ""
            by_key[f"{k['search_name']} at {company}"] = members
    return [
        DuplicateGroup(CONTACT_REASONS[reason], shared, sorted(m, key=lambda c: c.pk)) for shared, m in by_key.items()
    ]


def company_duplicate_keys(reason: str) -> QuerySet[Any]:
    rows: QuerySet[Any]
    if reason == "domain":
        rows = Company.objects.exclude(domain="").values(key=Lower("domain"))
    elif reason == "name":
        rows = Company.objects.values(key=Lower("name"))
    else:
        raise ValueError(f"reason must be one of {', '.join(COMPANY_REASONS)}")
    return rows.annotate(n=Count("id")).filter(n__gt=1).order_by("-n", "key")


def company_duplicate_groups(reason: str, keys: list[dict[str, Any]]) -> list[DuplicateGroup]:
    values = [k["key"] for k in keys]
    field = "domain" if reason == "domain" else "search_name"
    found = list(Company.objects.filter(**{f"{field}__in": values}).order_by("pk"))
    return [DuplicateGroup(COMPANY_REASONS[reason], v, [c for c in found if getattr(c, field) == v]) for v in values]
