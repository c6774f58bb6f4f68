"""Audit entries for set-based writes (``crm.services.contact_bulk``): the entries django-auditlog writes one
``save()`` at a time, with the same content, built and stored for a whole batch at once.

auditlog's ``model_instance_diff`` works out, on every call, which fields a model audits (its ``_meta``, the
registry's include and exclude lists, a ``track_field`` test per field) and reads the "before" side of a
creation field by field although it is always the same. For a batch of 500 contacts with their addresses and
phones that set-up was most of the time spent on the audit. ``audit_diff`` works the field list out once per
model and reads the values with auditlog's own rules (``auditlog.diff.get_field_value``; plain columns and
foreign keys inline, the same way); masked fields and ``AUDITLOG_STORE_JSON_CHANGES`` go to auditlog itself.
``tests/api/test_bulk_upsert_set.py`` compares the trails of the single-record and bulk paths.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from auditlog.cid import get_cid
from auditlog.diff import get_field_value, model_instance_diff, track_field
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.models.signals import pre_save
from django.utils.encoding import smart_str

from crm.services.bulk_sql import db_value

Getter = Callable[[models.Model], Any]


def audit_diff(
    old: models.Model | None, new: models.Model | None, fields_to_check: Iterable[str] | None = None
) -> dict[str, Any] | None:
    """``auditlog.diff.model_instance_diff(old, new, fields_to_check)`` as the save signals call it: the
    changed audited fields as ``{name: (old, new)}`` in text, or None when nothing changed."""
    instance = new if new is not None else old
    assert instance is not None  # noqa: S101 - one side is always given
    model = type(instance)
    fields = _fields(
        model, old is not None and new is not None, getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False),
        getattr(settings, "AUDITLOG_USE_FK_STRING_REPRESENTATION", False),
    )  # fmt: skip
    if fields is None:  # masked fields or JSON changes: auditlog's own code
        return model_instance_diff(  # type: ignore[no-any-return]
            old,
            new,
            fields_to_check=fields_to_check,
            use_json_for_changes=getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False),
        )
    if fields_to_check:
        wanted = set(fields_to_check)
        fields = [
            f for f in fields if f[0].name in wanted or (isinstance(f[0], models.ForeignKey) and f[0].attname in wanted)
        ]
    diff = {}
    for field, getter, missing in fields:
        old_value = missing if old is None else getter(old)
        new_value = missing if new is None else getter(new)
        if old_value != new_value:
            diff[field.name] = (smart_str(old_value), smart_str(new_value))
    return diff or None


@cache
def _fields(
    model: type[models.Model], both: bool, json_changes: bool, fk_strings: bool
) -> list[tuple[Any, Getter, Any]] | None:
    """The fields ``model_instance_diff`` compares for ``model`` (``both``: an update, else a creation or a
    deletion), each with its value getter and the value auditlog reads for the missing side; None when the
    model needs auditlog's own diff. (The two settings are arguments so that a changed setting is not served
    from the cache.)"""
    options = auditlog.get_model_fields(model)
    if options["mask_fields"] or json_changes:
        return None
    fields: list[Any] = list(model._meta.fields) if both else [f for f in model._meta.get_fields() if track_field(f)]
    if options["include_fields"]:
        fields = [f for f in fields if f.name in options["include_fields"]]
    if options["exclude_fields"]:
        fields = [f for f in fields if f.name not in options["exclude_fields"]]
    return [(f, _getter(f, fk_strings), get_field_value(None, f)) for f in fields]


def _getter(field: Any, fk_strings: bool) -> Getter:
    """``lambda obj: get_field_value(obj, field)``, inlined for plain columns and foreign keys (the branches of
    ``get_field_value`` that apply to them, in the same words)."""
    plain_fk = not fk_strings and (field.one_to_one or field.many_to_one) and hasattr(field, "rel_class")
    if isinstance(field, models.DateTimeField | models.JSONField) or (field.is_relation and not plain_fk):
        return lambda obj: get_field_value(obj, field)
    if plain_fk:
        attname = field.get_attname()
        return lambda obj: smart_str(getattr(obj, attname), strings_only=True)
    name = field.name

    def plain(obj: models.Model) -> Any:
        value = smart_str(getattr(obj, name))
        return str(value) if type(value).__name__ == "__proxy__" else value

    return plain


def audit_entry(instance: models.Model, action: int, changes: Any) -> LogEntry:
    """A log entry as ``LogEntry.objects.log_create`` would make it, not yet saved (see ``audit_write``).

    Built from positional values (as ``Model.from_db`` builds rows), the other columns at their defaults:
    by keywords, ``Model.__init__`` costs as much as the rest of the entry."""
    model = type(instance)
    content_type = ContentType.objects.get_for_model(instance)
    given = {
        "content_type_id": content_type.pk,
        "object_pk": smart_str(instance.pk),
        "object_id": instance.pk if isinstance(instance.pk, int) else None,
        "object_repr": smart_str(instance),
        "action": action,
        "changes": changes,
        "serialized_data": (
            LogEntry.objects._get_serialized_data_or_none(instance)  # type: ignore[attr-defined]
            if _serializes(model)
            else None
        ),
        "cid": get_cid(),
    }
    additional = getattr(instance, "get_additional_data", None)
    if callable(additional):
        given["additional_data"] = additional()
    entry = LogEntry(*[given[f.attname] if f.attname in given else f.get_default() for f in _log_fields()])
    _log_field("content_type").set_cached_value(entry, content_type)  # entry.content_type without a query
    return entry


@cache
def _log_fields() -> tuple[Any, ...]:
    return tuple(LogEntry._meta.concrete_fields)


@cache
def _log_field(name: str) -> Any:
    return LogEntry._meta.get_field(name)


@cache
def _serializes(model: type[models.Model]) -> bool:
    """Whether ``_get_serialized_data_or_none`` can return data for ``model`` (its first two tests)."""
    return auditlog.contains(model) and bool(auditlog.get_serialize_options(model)["serialize_data"])


def audit_write(entries: list[LogEntry]) -> None:
    """Save ``entries``, each stamped first by the ``pre_save`` receivers ``save()`` would run (the actor from
    ``set_actor``, the API key from ``crm.api.origin``). On PostgreSQL with one ``COPY``: two thousand rows of
    JSON would otherwise be quoted into arrays one by one on the client (psycopg's client-side binding)."""
    for entry in entries:
        if entry.object_pk == "None":  # a row logged before it had an id (cannot happen; guard)
            raise RuntimeError("audit entry without a primary key")
        pre_save.send(sender=LogEntry, instance=entry, raw=False, using="default", update_fields=None)
    if connection.vendor != "postgresql":
        LogEntry.objects.bulk_create(entries)
        return
    fields = [f for f in LogEntry._meta.concrete_fields if not f.primary_key]
    for entry in entries:
        for model_field in fields:
            if isinstance(model_field, models.DateTimeField) and model_field.auto_now_add:
                setattr(entry, model_field.attname, model_field.pre_save(entry, add=True))
    columns = [(f.attname, _copy_value(f)) for f in fields]
    quote = connection.ops.quote_name
    sql = f"COPY {quote(LogEntry._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for entry in entries:
            values = entry.__dict__
            copy.write_row([convert(values[attname]) for attname, convert in columns])


def _copy_value(field: Any) -> Callable[[Any], Any]:
    """A column's value for a COPY row (``crm.services.bulk_sql.db_value``); the few distinct values of a
    column that needs real preparation (the request's address) are prepared once each."""
    convert = db_value(field)
    if isinstance(field, models.GenericIPAddressField):
        return functools.lru_cache(maxsize=16)(convert)
    return convert
