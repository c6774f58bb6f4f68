"""A bulk batch's records validated by the serializer's own fields, without its per-record machinery.

``serializer.run_validation(record)`` walks, for every record, the serializer's writable fields, each nested
list's serializer, each item's fields, each with its empty-value tests, error dictionaries and validator
lists: for a 500-record batch that walk cost more than the checks themselves. ``record_validator`` compiles
the walk once per batch from the serializer's own field objects and runs the same rules: the same validators
(string length, NUL and surrogate characters inlined, the others called), the same choice table, each other
field's own ``run_validation``, the serializer's ``validate_<field>`` and ``validate``.

It only ever accepts: a record it cannot take as it is (anything but a plain value where a string, choice or
boolean is expected, a missing required field, an unknown field, any rule refusing it) gets None, and the caller
runs the serializer, whose answer (its error messages and field paths) is then the one given. So a bad record's
errors always come from the serializer itself; ``tests/api/test_bulk_validation.py`` checks that both accept the
same records with the same result.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.db import DatabaseError
from rest_framework import fields, serializers
from rest_framework.fields import SkipField, empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from crm.api.serializers import StrictModelSerializer

Check = Callable[[Any], Any]  # a primitive value -> its validated value; raises when it cannot take it
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Deferred(Exception):
    """The record goes to the serializer."""


def record_validator(serializer: serializers.BaseSerializer[Any]) -> Callable[[Any], dict[str, Any] | None]:
    """A function giving a record's validated data as ``serializer.run_validation(record)`` would, or None
    when the serializer must answer it (see the module's docstring)."""
    check = _serializer_check(serializer)
    if check is None:
        return lambda record: None

    def validate(record: Any) -> dict[str, Any] | None:
        try:
            return check(record)  # type: ignore[no-any-return]
        except DatabaseError:  # the serializer would meet it too, in a transaction no longer usable: as before
            raise
        except Exception:  # noqa: BLE001 - whatever it is, the serializer says it in its own words
            return None

    return validate


def _serializer_check(serializer: Any) -> Check | None:
    """``Serializer.run_validation`` for a dict, when the serializer uses DRF's own steps (or the strict
    serializer's unknown-field test); None when it customises them."""
    kind = type(serializer)
    strict = kind.to_internal_value is StrictModelSerializer.to_internal_value
    if (
        kind.run_validation is not serializers.Serializer.run_validation
        or not (strict or kind.to_internal_value is serializers.Serializer.to_internal_value)
        or serializer.validators
        or getattr(serializer.root, "partial", False)
    ):
        return None
    known = frozenset(serializer.fields)
    steps = [
        (
            field, _field_check(field), field.required or field.default is not empty,
            getattr(serializer, "validate_" + field.field_name, None), field.source_attrs,
        )
        for field in serializer._writable_fields
    ]  # fmt: skip
    validate = None if kind.validate is serializers.Serializer.validate else serializer.validate
    set_value = serializer.set_value

    def check(data: Any) -> dict[str, Any]:
        if type(data) is not dict or (strict and not known.issuperset(data)):
            raise _Deferred
        result: dict[str, Any] = {}
        for field, field_check, needed, validate_method, source_attrs in steps:
            value = field.get_value(data)
            if value is empty:
                if needed:  # required (an error) or a default to fill in: the serializer's part
                    raise _Deferred
                continue
            try:
                value = field_check(value)
            except SkipField:
                continue
            if validate_method is not None:
                value = validate_method(value)
            set_value(result, source_attrs, value)
        if validate is not None:
            result = validate(result)
            if result is None:
                raise _Deferred
        return result

    return check


def _field_check(field: Any) -> Check:
    """The field's ``run_validation`` for a present value: compiled for nested lists of records, lists and
    plain strings, choices and booleans; the field's own method for anything else."""
    kind = type(field)
    if field.source == "*":  # a null value is not skipped then (validate_empty_values): left to the field
        return field.run_validation  # type: ignore[no-any-return]
    if isinstance(field, serializers.ListSerializer):
        return _records_check(field) or field.run_validation
    if kind in (fields.CharField, fields.EmailField):
        return _text_check(field)
    if kind is fields.ChoiceField:
        return _choice_check(field)
    if kind is fields.BooleanField:
        return _boolean_check(field)
    if (
        isinstance(field, fields.ListField)
        and kind.to_internal_value is fields.ListField.to_internal_value
        and kind.run_child_validation is fields.ListField.run_child_validation
        and kind.run_validation is fields.Field.run_validation
        and kind.validate_empty_values is fields.Field.validate_empty_values
    ):
        return _list_check(field)
    return field.run_validation  # type: ignore[no-any-return]


def _records_check(field: Any) -> Check | None:
    """``ListSerializer.run_validation`` for a list of records (many=True), when nothing is customised."""
    kind = type(field)
    child = _serializer_check(field.child)
    if (
        child is None
        or kind.run_validation is not serializers.ListSerializer.run_validation
        or kind.to_internal_value is not serializers.ListSerializer.to_internal_value
        or kind.run_child_validation is not serializers.ListSerializer.run_child_validation
        or kind.validate is not serializers.ListSerializer.validate
        or field.validators
        or not field.allow_empty
        or field.max_length is not None
        or field.min_length is not None
    ):
        return None

    def check(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _Deferred
        return [child(item) for item in value]

    return check


def _list_check(field: Any) -> Check:
    child = _field_check(field.child)
    validators = _validators(field, list(field.validators))

    def check(value: Any) -> list[Any]:
        if type(value) is not list or (not value and not field.allow_empty):
            raise _Deferred
        result = [child(item) for item in value]
        validators(result)
        return result

    return check


def _text_check(field: Any) -> Check:
    """``CharField.run_validation`` (and ``EmailField``'s) for a string."""
    limit: int | None = None
    others = []
    for validator in field.validators:
        if isinstance(validator, MaxLengthValidator) and type(validator.limit_value) is int and limit is None:
            limit = validator.limit_value
        elif not isinstance(validator, ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator):
            others.append(validator)
    run_others = _validators(field, others)
    trim, allow_blank, allow_null = field.trim_whitespace, field.allow_blank, field.allow_null
    null_check = any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators)
    surrogate_check = any(isinstance(v, ProhibitSurrogateCharactersValidator) for v in field.validators)

    def check(value: Any) -> Any:
        if type(value) is not str:
            if value is None and allow_null:
                return None
            raise _Deferred
        text = value.strip() if trim else value
        if not text:
            if allow_blank:
                return ""
            raise _Deferred
        if (
            (limit is not None and len(text) > limit)
            or (null_check and "\x00" in text)
            or (surrogate_check and not text.isascii() and _SURROGATE.search(text))
        ):
            raise _Deferred
        run_others(text)
        return text

    return check


def _choice_check(field: Any) -> Check:
    table, allow_blank, allow_null = field.choice_strings_to_values, field.allow_blank, field.allow_null
    validators = _validators(field, list(field.validators))

    def check(value: Any) -> Any:
        if type(value) is not str:
            if value is None and allow_null:
                return None
            raise _Deferred
        result = "" if value == "" and allow_blank else table[value]
        validators(result)
        return result

    return check


def _boolean_check(field: Any) -> Check:
    validators = _validators(field, list(field.validators))
    allow_null = field.allow_null

    def check(value: Any) -> Any:
        if value is not True and value is not False:
            if value is None and allow_null:
                return None
            raise _Deferred
        validators(value)
        return value

    return check


def _validators(field: Any, validators: list[Any]) -> Callable[[Any], None]:
    """``Field.run_validators`` over ``validators``, any failure deferring the record."""
    if not validators:
        return lambda value: None

    def run(value: Any) -> None:
        for validator in validators:
            if getattr(validator, "requires_context", False):
                validator(value, field)
            else:
                validator(value)

    return run
