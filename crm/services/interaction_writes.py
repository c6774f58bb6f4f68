"""Interactions written by partners (and anyone else through these services): created, updated, upserted by
their external id, and deleted. A deletion leaves a tombstone for the partners' deletions feed
(``crm.services.tombstones``); webhooks and the audit trail follow the saves and deletions on their own."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.models import Interaction, User
from crm.services.base import save_fields
from crm.services.writes import Errors, assign_fields, clean_into, upsert_by_external_id

INTERACTION_FIELDS = (
    "external_id", "kind", "direction", "subject", "body", "occurred_at", "duration", "outcome", "staff", "contact",
    "company", "due_at", "done",
)  # fmt: skip


def interaction_create(*, data: dict[str, Any], actor: User | None) -> Interaction:
    return _write_interaction(Interaction(), data, creating=True)


def interaction_update(*, record: Interaction, data: dict[str, Any], actor: User | None) -> Interaction:
    with transaction.atomic():
        return _write_interaction(Interaction.objects.select_for_update().get(pk=record.pk), data, creating=False)


def interaction_upsert(
    *, external_id: str, data: dict[str, Any], actor: User | None, check: Any = None
) -> tuple[Interaction, bool]:
    """Create or update the interaction whose external id is ``external_id``; returns (interaction, created)."""
    return upsert_by_external_id(
        Interaction, external_id=external_id, data=data, create=interaction_create, update=interaction_update,
        actor=actor, check=check,
    )  # fmt: skip


def interaction_delete(*, record: Interaction, actor: User | None) -> None:
    """Delete ``record`` for good; its tombstone (id, external id, time) stays in the deletions feed."""
    with transaction.atomic():
        locked = Interaction.objects.select_for_update().filter(pk=record.pk).first()
        if locked is not None:  # deleted meanwhile: its tombstone is already there
            locked.delete()


def _write_interaction(interaction: Interaction, data: dict[str, Any], *, creating: bool) -> Interaction:
    """Assign, validate as the admin does (``full_clean``: a contact or company, due dates for tasks only, a
    unique external id), then save; nothing is written when anything is refused."""
    done_at_before = interaction.done_at
    changed = assign_fields(interaction, data, INTERACTION_FIELDS)
    errors: Errors = {}
    clean_into(interaction, errors)
    if errors:
        raise ValidationError(errors)
    if interaction.done_at != done_at_before:
        changed.append("done_at")  # stamped (or cleared) by Interaction.clean
    if creating:
        interaction.save()
    elif changed:
        save_fields(interaction, changed)
    return interaction
