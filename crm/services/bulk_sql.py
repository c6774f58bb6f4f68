"""Set-based SQL for batch writers (``crm.services.contact_bulk``): insert, update and select a batch's rows with
one array parameter per column on PostgreSQL, Django's own methods elsewhere.

Django 5.2 already inserts a batch on PostgreSQL as ``INSERT … SELECT * FROM UNNEST(…)``, but prepares every
value of every row through two field methods (``pre_save``, ``get_db_prep_save``) and builds the statement
around them: for a batch of 500 contacts with their addresses, phones and tag links that took longer than the
database took to store them. Here each column's values are converted by a function chosen once per field
(``db_value``), which leaves strings, integers, booleans and aware times as they are wherever Django's
preparation would, and sends anything else through the field."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from auditlog.context import disable_auditlog
from django.db import connection, models
from django.db.models.expressions import RawSQL
from django.db.models.signals import post_save

Convert = Callable[[Any], Any]


def among(model: type[models.Model], column: str, values: list[Any], kind: str) -> Any:
    """A filter for ``column IN values``. On PostgreSQL ``column = ANY(array)``, one parameter: Django's
    ``IN (%s, %s, …)`` takes longer to build for 500 values than the query takes, and ``IN (SELECT
    unnest(…))`` is estimated at a few rows and joined by a scan of the whole table."""
    if connection.vendor != "postgresql":
        return models.Q(**{f"{column}__in": values})
    quote = connection.ops.quote_name
    condition = f"{quote(model._meta.db_table)}.{quote(column)} = ANY(%s::{kind}[])"
    return RawSQL(condition, (values,), output_field=models.BooleanField())  # noqa: S611 - names from _meta


def db_value(field: Any) -> Convert:
    """``lambda value: field.get_db_prep_save(value, connection)``, shortened where that returns the value as
    it is (a string for a text column, an int for an integer or a key, a bool, an aware time); JSON as its text
    (the statement or COPY casts it)."""

    def prepared(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    if isinstance(field, models.ForeignKey):
        return db_value(field.target_field)
    if isinstance(field, models.JSONField):
        return lambda value: None if value is None else json.dumps(value, cls=field.encoder)
    if isinstance(field, models.DateTimeField):  # naive ones through the field (it warns and makes them aware)
        return lambda value: value if type(value) is dt.datetime and value.tzinfo is not None else prepared(value)
    if isinstance(field, models.BooleanField):
        return lambda value: value if type(value) is bool else prepared(value)
    if isinstance(field, models.CharField | models.TextField):
        return lambda value: value if type(value) is str or value is None else prepared(value)
    if isinstance(field, models.IntegerField):  # the auto fields too
        return lambda value: value if type(value) is int or value is None else prepared(value)
    return prepared


def insert_rows(objs: Sequence[models.Model]) -> None:
    """``bulk_create(objs)`` for new rows of one model: their primary keys set from ``RETURNING``, in the rows'
    order, as Django sets them. Models this does not cover (a primary key given or not automatic, database
    defaults, inheritance) and other databases go through ``bulk_create``."""
    if not objs:
        return
    model = type(objs[0])
    opts = model._meta
    manager: Any = model._default_manager
    fields = [f for f in opts.concrete_fields if not f.primary_key and not f.generated]
    types = [f.db_type(connection) for f in fields]
    if (
        connection.vendor != "postgresql"
        or not isinstance(opts.pk, models.AutoField | models.BigAutoField | models.SmallAutoField)
        or opts.parents
        or any(f.db_default is not models.NOT_PROVIDED for f in fields)
        or None in types
        or any(obj.pk is not None for obj in objs)
    ):
        manager.bulk_create(objs)
        return
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
    arrays: list[Any] = []
    for field in fields:
        if type(field).pre_save is models.Field.pre_save:
            values = [getattr(obj, field.attname) for obj in objs]
        else:  # auto_now and the like
            values = [field.pre_save(obj, True) for obj in objs]
        if isinstance(field, models.JSONField):
            arrays.append(json.dumps(values, cls=field.encoder))
        else:
            convert = db_value(field)
            arrays.append([convert(value) for value in values])
    quote = connection.ops.quote_name
    unnest = ", ".join(
        _JSON_COLUMN if isinstance(field, models.JSONField) else f"%s::{str(kind).split('(')[0]}[]"
        for field, kind in zip(fields, types, strict=True)
    )
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608 - names
        f"SELECT * FROM unnest({unnest}) RETURNING {quote(opts.pk.column)}"  # from _meta, values are parameters
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        keys = cursor.fetchall()
    for obj, (key,) in zip(objs, keys, strict=True):
        obj.pk = key
        obj._state.adding = False
        obj._state.db = connection.alias


# A JSON column's values as one JSON array (a top-level null is SQL NULL, as Django stores ``None``): as an
# array of text, psycopg's client-side binding escapes every value's quotes one by one in Python, which took
# longer than the insert for a batch of routing traces.
_JSON_COLUMN = (
    "(SELECT array_agg(NULLIF(value, 'null'::jsonb) ORDER BY position) "
    "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS elements(value, position))"
)


def update_rows(objs: Sequence[models.Model], names: list[str]) -> None:
    """``bulk_update(objs, names)``. On PostgreSQL as one ``UPDATE … FROM unnest(…)`` with an array per
    column: ``bulk_update`` builds a ``CASE WHEN id = … THEN …`` expression per row and column, which took half
    of a 500-record batch's time in Python alone."""
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objs, names)
        return
    columns: list[Any] = [model._meta.get_field(name) for name in names]
    arrays: list[list[Any]] = [[obj.pk for obj in objs]]
    arrays += [[_as_text(column, getattr(obj, column.attname)) for obj in objs] for column in columns]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    assignments = ", ".join(
        f"{quote(column.column)} = v.{quote(column.column)}::{column.db_type(connection)}" for column in columns
    )
    unnest = ", ".join(["%s::bigint[]", *["%s::text[]"] * len(columns)])
    names_sql = ", ".join(["id", *(quote(column.column) for column in columns)])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM unnest({unnest}) AS v({names_sql}) "  # noqa: S608 - names
            f"WHERE {table}.id = v.id",  # come from the model's _meta, values are parameters
            arrays,
        )


def _as_text(field: Any, value: Any) -> str | None:
    """A column value as PostgreSQL reads it from text (then cast to the column's type)."""
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return json.dumps(value, cls=field.encoder)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def created_announce(rows: Sequence[models.Model]) -> None:
    """``post_save`` (created) for rows a bulk insert wrote, as ``save()`` sends it, so that every listener
    (outbound webhooks, routing) hears of them as of a single save. The audit log's listener is off
    (``disable_auditlog``): bulk writers record their entries themselves (``crm.services.bulk_audit``)."""
    with disable_auditlog():
        for row in rows:
            post_save.send(
                sender=type(row), instance=row, created=True, update_fields=None, raw=False, using=row._state.db
            )
