"""Field-level audit trail of every change to CRM records (django-auditlog).

Who is recorded: the signed-in staff member for admin requests (``AuditlogMiddleware``); code that acts for
someone else (API keys, tasks) wraps its work in ``auditlog.context.set_actor``. Child rows (a contact's
addresses and consents, an order's lines) carry their parent's id in ``additional_data`` so that the
parent's history page shows them too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from auditlog.models import LogEntry
from auditlog.receivers import _create_log_entry, check_disable, log_update
from auditlog.registry import auditlog
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, Q, QuerySet
from django.db.models.signals import pre_save

# Child model -> (parent model name, key in additional_data)
CHILDREN: dict[str, tuple[str, str]] = {
    "contactemail": ("contact", "contact_id"),
    "contactphone": ("contact", "contact_id"),
    "contactconsent": ("contact", "contact_id"),
    "orderline": ("order", "order_id"),
}


# Derived or bookkeeping columns that would only add noise to a record's history.
NOT_AUDITED = {"search_name", "updated_at", "created_at", "line_total"}


def audit(model: type[Model], *, m2m_fields: set[str] | None = None, exclude: frozenset[str] = frozenset()) -> None:
    """Register ``model``'s own columns (not reverse relations, not derived ones) with the audit log.

    Other apps register theirs through this too (``exclude``: columns that change on every message, or
    secrets, which must never be copied into the log). A save that names only columns the log leaves out
    (``save(update_fields=["last_message_at"])``) is not looked at: auditlog would read the old row to find
    nothing to record.
    """
    columns = [f for f in model._meta.concrete_fields if f.name not in NOT_AUDITED | exclude]
    auditlog.register(model, include_fields=[f.name for f in columns], m2m_fields=m2m_fields or set())
    audited = frozenset(f.name for f in columns) | frozenset(f.attname for f in columns)
    if not pre_save.disconnect(sender=model, dispatch_uid=auditlog._dispatch_uid(pre_save, log_update)):
        raise ImproperlyConfigured(f"auditlog's update receiver for {model.__name__} was not where expected")
    pre_save.connect(
        _update_receiver(audited), sender=model, weak=False, dispatch_uid=("crm.audit", model._meta.label_lower)
    )


def audit_previous(instance: Model, previous: Model) -> None:
    """Before saving ``instance``: ``previous`` is the row as the database holds it (a copy the caller took
    after reading the row under lock in this transaction, before changing it). The audit log compares with
    it instead of reading the row once more; used once, by the next save."""
    instance.__dict__["_audit_previous"] = previous


@check_disable
def _log_update_from(sender: type[Model], instance: Model, previous: Model, update_fields: Any, **_: Any) -> None:
    # auditlog's ``log_update`` without its read of the old row (the same entry, the same settings).
    _create_log_entry(
        action=LogEntry.Action.UPDATE,
        instance=instance,
        sender=sender,
        diff_old=previous,
        diff_new=instance,
        fields_to_check=update_fields,
        use_json_for_changes=getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False),
    )


_deferred: ContextVar[list[LogEntry] | None] = ContextVar("crm_audit_deferred", default=None)


@contextmanager
def audit_deferred() -> Iterator[list[LogEntry]]:
    """Within the block, the entries of audited updates are built at each save as usual but written together
    at the end (one ``COPY``, ``bulk_audit.audit_write``), if the block ends without an error: for a
    transaction that saves many audited rows one at a time (routing's batch). Use it inside the transaction.

    Yields the list of entries kept so far: a caller that rolls back to a savepoint drops the entries made
    since (``del entries[mark:]``). auditlog's ``pre_log``/``post_log`` signals are not sent for them, as for
    the bulk writers' entries (nothing here listens to them)."""
    from crm.services.bulk_audit import audit_write

    entries: list[LogEntry] = []
    token = _deferred.set(entries)
    try:
        yield entries
    finally:
        _deferred.reset(token)
    audit_write(entries)


def audit_deferred_entries() -> list[LogEntry] | None:
    """The entries ``audit_deferred`` keeps in the current block, or None outside one."""
    return _deferred.get()


@check_disable
def _log_update_deferred(
    sender: type[Model], instance: Model, previous: Model | None, update_fields: Any, entries: list[LogEntry], **_: Any
) -> None:
    from crm.services.bulk_audit import audit_diff, audit_entry

    if previous is None:
        previous = sender._default_manager.filter(pk=instance.pk).first()
    changes = audit_diff(previous, instance, update_fields)
    if changes:
        entries.append(audit_entry(instance, LogEntry.Action.UPDATE, changes))


def _update_receiver(audited: frozenset[str]) -> Callable[..., None]:
    def receiver(sender: type[Model], instance: Model, update_fields: Any = None, **kwargs: Any) -> None:
        previous = instance.__dict__.pop("_audit_previous", None)
        if update_fields is not None and audited.isdisjoint(update_fields):
            return
        if instance._state.adding or instance.pk is None:
            return  # a creation: auditlog's post_save receiver records it
        entries = _deferred.get()
        if entries is not None:
            _log_update_deferred(sender, instance, previous, update_fields, entries, **kwargs)
        elif previous is not None:
            _log_update_from(sender, instance, previous, update_fields, **kwargs)
        else:
            log_update(sender, instance, update_fields=update_fields, **kwargs)

    return receiver


def register_models() -> None:
    from crm import models as m

    audit(m.Contact, m2m_fields={"tags"})
    audit(m.Company, m2m_fields={"tags"})
    plain: list[type[Model]] = [
        m.ContactEmail, m.ContactPhone, m.ContactConsent, m.AttributeDefinition, m.Tag,
        m.Interaction, m.Product, m.Order, m.OrderLine, m.Segment,
    ]  # fmt: skip
    for model in plain:
        audit(model)


def history_for(obj: Model) -> QuerySet[LogEntry]:
    """Log entries of ``obj`` and of the child rows that belong to it, newest first."""
    condition = Q(content_type=ContentType.objects.get_for_model(obj), object_pk=str(obj.pk))
    parent_name = obj._meta.model_name
    for child, (parent, key) in CHILDREN.items():
        if parent == parent_name:
            condition |= Q(
                content_type__app_label="crm", content_type__model=child, **{f"additional_data__{key}": obj.pk}
            )
    entries: QuerySet[LogEntry] = LogEntry.objects.filter(condition)
    return entries.select_related("actor", "content_type").order_by("-timestamp", "-id")
