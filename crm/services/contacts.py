"""Bulk changes to contacts made from the admin (and, later, the API)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from crm.models import Contact, Tag, User
from crm.services.base import save_fields


def _locked(contacts: QuerySet[Contact]) -> list[Contact]:
    # Rows are locked in id order so two bulk changes on overlapping selections cannot deadlock.
    return list(Contact.objects.filter(pk__in=contacts.values("pk")).select_for_update().order_by("pk"))


def contacts_assign_owner(*, contacts: QuerySet[Contact], owner: User | None) -> int:
    """Give the selected contacts a new owner; returns how many changed. Each change is audited."""
    changed = 0
    with transaction.atomic():
        for contact in _locked(contacts):
            if contact.owner_id != (owner.pk if owner else None):
                contact.owner = owner
                save_fields(contact, ["owner"])
                changed += 1
    return changed


def contacts_set_stage(*, contacts: QuerySet[Contact], stage: str) -> int:
    """Move the selected contacts to a lifecycle stage; returns how many changed."""
    if stage not in Contact.Stage.values:
        raise ValueError(f"stage: {stage!r} is not one of {', '.join(Contact.Stage.values)}")
    changed = 0
    with transaction.atomic():
        for contact in _locked(contacts):
            if contact.stage != stage:
                contact.stage = stage
                save_fields(contact, ["stage"])
                changed += 1
    return changed


def contacts_add_tag(*, contacts: QuerySet[Contact], tag: Tag) -> int:
    """Tag the selected contacts; returns how many did not have the tag yet."""
    with transaction.atomic():
        targets = _locked(contacts)
        already = set(tag.contacts.filter(pk__in=[c.pk for c in targets]).values_list("pk", flat=True))
        added = 0
        for contact in targets:
            if contact.pk not in already:
                contact.tags.add(tag)  # one audited m2m change per contact
                save_fields(contact, [])  # bump updated_at: the tag list is part of the record
                added += 1
    return added
