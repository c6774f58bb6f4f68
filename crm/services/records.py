"""Soft deletion and restoration of contacts and companies."""

from __future__ import annotations

from typing import TypeVar, cast

from django.db import transaction
from django.utils import timezone

from crm.models import SoftDeletable, User
from crm.services.base import save_fields
from crm.webhooks.events import webhook_event

R = TypeVar("R", bound=SoftDeletable)


def record_soft_delete(*, record: R, actor: User | None) -> R:
    """Hide ``record`` everywhere while keeping it (and who deleted it, and when) for restore and sync."""
    with transaction.atomic():
        # The concrete model (not the "Deleted contacts" proxy) so the change is audited like any other.
        model = record._meta.concrete_model
        locked = cast(R, model.all_objects.select_for_update().get(pk=record.pk))  # type: ignore[union-attr]
        if locked.deleted_at is None:
            locked.deleted_at = timezone.now()
            locked.deleted_by = actor
            save_fields(locked, ["deleted_at", "deleted_by"])
            webhook_event(record=locked, action="deleted", deleted_at=locked.deleted_at)
    return locked


def record_restore(*, record: R, actor: User | None) -> R:
    """Bring a soft-deleted record back; the deletion stays visible in its history."""
    with transaction.atomic():
        # The concrete model (not the "Deleted contacts" proxy) so the change is audited like any other.
        model = record._meta.concrete_model
        locked = cast(R, model.all_objects.select_for_update().get(pk=record.pk))  # type: ignore[union-attr]
        if locked.deleted_at is not None:
            locked.deleted_at = None
            locked.deleted_by = None
            save_fields(locked, ["deleted_at", "deleted_by"])
    return locked
