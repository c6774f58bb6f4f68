"""The look-ups of the contact import: what the rows point at, loaded in bulk, and how a row finds its contact.

Queries are ``__in`` look-ups in chunks (a few per thousand rows): contacts by external id (deleted ones too,
to refuse them) and by e-mail address (alive only), their addresses, phones and tags, companies by external id
and by name, owners, tags. Matching rules: ``crm.importing.contacts``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from crm.importing.common import Errors, chunked, existing_tags, in_chunk_size, staff_by_key
from crm.models import Company, Contact, ContactEmail, ContactPhone


@dataclass
class ContactRow:
    number: int
    values: dict[str, Any] = field(default_factory=dict)  # Contact field -> value, non-empty cells only
    emails: list[str] = field(default_factory=list)
    email_column: str = "email"  # where emails[0] came from, for messages
    phones: list[str] = field(default_factory=list)
    company_name: str = ""
    company_external_id: str = ""
    owner: str = ""
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


class ContactReferences:
    """Everything the rows point at, loaded with a few queries per thousand rows."""

    def __init__(self) -> None:
        self.by_external: dict[str, tuple[int, bool]] = {}  # external id -> (pk, deleted)
        self.by_email: dict[str, list[int]] = defaultdict(list)
        self.contacts: dict[int, Contact] = {}
        self.emails: dict[int, set[str]] = defaultdict(set)
        self.phones: dict[int, set[str]] = defaultdict(set)
        self.contact_tags: dict[int, set[int]] = defaultdict(set)
        self.companies_by_external: dict[str, tuple[int, bool]] = {}
        self.companies_by_name: dict[str, list[int]] = defaultdict(list)
        self.new_companies: dict[str, str] = {}  # lower-cased name -> name as first written
        self.owners: dict[str, int] = {}
        self.tag_ids: dict[str, int] = {}
        self.tag_spelling: dict[str, str] = {}

    @classmethod
    def load(cls, rows: list[ContactRow]) -> ContactReferences:
        refs = cls()
        size = in_chunk_size()
        externals = sorted({r.values["external_id"] for r in rows if r.values.get("external_id")})
        for chunk in chunked(externals, size):
            for ext, pk, deleted_at in Contact.all_objects.filter(external_id__in=chunk).values_list(
                "external_id", "pk", "deleted_at"
            ):
                refs.by_external[ext] = (pk, deleted_at is not None)
        # Only rows not matched by external id match by address.
        emails = sorted({r.emails[0] for r in rows if r.emails and r.values.get("external_id") not in refs.by_external})
        for chunk in chunked(emails, size):
            pairs = ContactEmail.objects.filter(email__in=chunk, contact__deleted_at__isnull=True)
            for email, pk in pairs.values_list("email", "contact_id").order_by("contact_id").distinct():
                refs.by_email[email].append(pk)
        targets = sorted({pk for pk, deleted in refs.by_external.values() if not deleted} | {
            pk for pks in refs.by_email.values() for pk in pks
        })  # fmt: skip
        through = Contact.tags.through
        for chunk in chunked(targets, size):
            refs.contacts.update((c.pk, c) for c in Contact.objects.filter(pk__in=chunk))
            for pk, email in ContactEmail.objects.filter(contact_id__in=chunk).values_list("contact_id", "email"):
                refs.emails[pk].add(email)
            for pk, number in ContactPhone.objects.filter(contact_id__in=chunk).values_list("contact_id", "number"):
                refs.phones[pk].add(number)
            for pk, tag_id in through.objects.filter(contact_id__in=chunk).values_list("contact_id", "tag_id"):
                refs.contact_tags[pk].add(tag_id)
        company_externals = sorted({r.company_external_id for r in rows if r.company_external_id})
        for chunk in chunked(company_externals, size):
            for ext, pk, deleted_at in Company.all_objects.filter(external_id__in=chunk).values_list(
                "external_id", "pk", "deleted_at"
            ):
                refs.companies_by_external[ext] = (pk, deleted_at is not None)
        names = sorted({r.company_name.lower() for r in rows if r.company_name and not r.company_external_id})
        for chunk in chunked(names, size):
            for name, pk in Company.objects.filter(search_name__in=chunk).values_list("search_name", "pk"):
                refs.companies_by_name[name].append(pk)
        refs.owners = staff_by_key({r.owner for r in rows if r.owner})
        for row in rows:
            for name in row.tags:
                refs.tag_spelling.setdefault(name.lower(), name)
        refs.tag_ids = existing_tags(set(refs.tag_spelling))
        return refs

    def new_tag_names(self) -> list[str]:
        return [spelling for key, spelling in self.tag_spelling.items() if key not in self.tag_ids]

    def match(self, row: ContactRow, errors: Errors) -> Contact | None:
        external_id = row.values.get("external_id")
        if external_id and external_id in self.by_external:
            pk, deleted = self.by_external[external_id]
            if deleted:
                errors.add(row.number, "external_id", f"belongs to deleted contact #{pk}; restore it first")
                return None
            return self.contacts[pk]
        if not row.emails:
            return None
        pks = self.by_email.get(row.emails[0], [])
        column = row.email_column
        if len(pks) > 1:
            listed = ", ".join(f"#{pk}" for pk in pks[:5])
            errors.add(row.number, column, f"{len(pks)} contacts have this address ({listed}); add their external_id")
            return None
        if not pks:
            return None
        contact = self.contacts[pks[0]]
        if external_id and contact.external_id and contact.external_id != external_id:
            errors.add(
                row.number,
                "external_id",
                f"contact #{contact.pk} with this e-mail address has external id “{contact.external_id}”",
            )
            return None
        return contact

    def company_for(self, row: ContactRow, errors: Errors) -> tuple[int | None, str]:
        """(existing company id or None, key of a company to create or "")."""
        if row.company_external_id:
            found = self.companies_by_external.get(row.company_external_id)
            if found is None:
                errors.add(row.number, "company_external_id", f"no company has external id “{row.company_external_id}”")
                return None, ""
            if found[1]:
                errors.add(
                    row.number, "company_external_id", f"belongs to deleted company #{found[0]}; restore it first"
                )
                return None, ""
            return found[0], ""
        if not row.company_name:
            return None, ""
        key = row.company_name.lower()
        pks = self.companies_by_name.get(key, [])
        if len(pks) > 1:
            errors.add(
                row.number, "company", f"{len(pks)} companies are named “{row.company_name}”; use company_external_id"
            )
            return None, ""
        if pks:
            return pks[0], ""
        self.new_companies.setdefault(key, row.company_name)
        return None, key

    def owner_for(self, row: ContactRow, errors: Errors) -> int | None:
        if not row.owner:
            return None
        pk = self.owners.get(row.owner)
        if pk is None:
            errors.add(row.number, "owner", f"no staff member has the username or e-mail address “{row.owner}”")
        return pk
