from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.db import models

_M = TypeVar("_M", bound=models.Model)


class TimeStamped(models.Model):
    """Creation and last-change times. ``updated_at`` is what partners sync on, so every service
    that saves with ``update_fields`` includes it (see ``crm.services.base.save_fields``)."""

    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    class Meta:
        abstract = True


class AliveManager(models.Manager[_M]):
    """The default manager hides soft-deleted rows, so a deleted record disappears everywhere:
    admin lists, autocompletes, related lists, the API. ``all_objects`` still sees them."""

    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(deleted_at__isnull=True)


class DeletedManager(models.Manager[_M]):
    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(deleted_at__isnull=False)


class SoftDeletable(models.Model):
    """Deletion keeps the row (and its history) with who deleted it and when; managers can restore it
    and partner sync reports it as a tombstone."""

    deleted_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    all_objects: ClassVar[Any] = models.Manager()
    deleted_objects: ClassVar[Any] = DeletedManager()

    class Meta:
        abstract = True
        # Related lookups (interaction.contact) must still reach a deleted row rather than fail.
        base_manager_name = "all_objects"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None
