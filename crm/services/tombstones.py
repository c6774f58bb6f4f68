"""Tombstones of interactions, which are deleted for good (contacts and companies are soft-deleted and are
their own tombstones): one row per deleted interaction for the partners' deletions feed, dropped once older
than ``API_TOMBSTONE_RETENTION_DAYS``.

Written from a ``post_delete`` receiver, a decoupled side effect as STYLE.md allows: interactions are deleted
from many places (the admin's delete page and action, the contact page's inline, the API, the cascade of a
contact or company deleted for good) and every one must leave a tombstone. ``post_delete`` runs inside the
deleting transaction, so a rolled-back deletion leaves none."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete
from django.utils import timezone

from crm.models import Interaction, InteractionTombstone


def tombstone_horizon() -> dt.datetime:
    """Tombstones older than this are no longer served (nor kept)."""
    return timezone.now() - dt.timedelta(days=settings.API_TOMBSTONE_RETENTION_DAYS)


def interaction_tombstone_record(*, interaction: Interaction) -> None:
    # One statement; "on conflict update" only so that an id seen twice (restored from a backup, say) cannot
    # make the deletion itself fail.
    tombstone = InteractionTombstone(pk=interaction.pk, external_id=interaction.external_id, deleted_at=timezone.now())
    InteractionTombstone.objects.bulk_create(
        [tombstone], update_conflicts=True, unique_fields=["id"], update_fields=["external_id", "deleted_at"]
    )


def tombstones_purge() -> int:
    """Drop the tombstones past the retention; returns how many (scheduled daily, ``crm.tasks``)."""
    deleted, _by_model = InteractionTombstone.objects.filter(deleted_at__lt=tombstone_horizon()).delete()
    return deleted


def _deleted(sender: type[Interaction], instance: Interaction, **kwargs: Any) -> None:
    interaction_tombstone_record(interaction=instance)


def connect() -> None:
    post_delete.connect(_deleted, sender=Interaction, dispatch_uid="crm.tombstones.interaction")
