"""Plain saves and deletions of contacts, companies, interactions and orders become webhook events.

A decoupled side effect (STYLE.md allows signals for these): those records are written from many places
(admin forms and inlines, API services, bulk actions, merges, the demo data), and every one of them must be
announced. Soft deletion, restoration and merges are announced by their services (``crm.services.records``,
``crm.services.merge``), so a save of a deleted row is left to them here. Bulk imports write with
``bulk_create``/``update`` and announce nothing: partners see imported rows through incremental sync.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.db.models.signals import post_save, pre_delete

from crm.webhooks.events import RESOURCES, has_subscribers, webhook_event


def _saved(sender: type[Model], instance: Model, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw or getattr(instance, "deleted_at", None) is not None:
        return
    webhook_event(record=instance, action="created" if created else "updated")


def _deleting(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    # The row is gone at commit: its data is taken now (only when someone could receive it).
    resource = RESOURCES.get(instance._meta.label_lower)
    if resource is None or not has_subscribers():
        return
    snapshot = resource.serialize(int(instance.pk))
    if snapshot is not None:
        webhook_event(record=instance, action="deleted", snapshot=snapshot)


def connect() -> None:
    from crm.models import Company, Contact, Interaction, Order

    for model in (Contact, Company, Interaction, Order):
        uid = f"crm.webhooks.{model._meta.model_name}"
        post_save.connect(_saved, sender=model, dispatch_uid=f"{uid}.saved")
        if model in (Interaction, Order):  # contacts and companies are only ever soft-deleted
            pre_delete.connect(_deleting, sender=model, dispatch_uid=f"{uid}.deleting")
