"""Custom contact attributes: values are checked against the definitions staff manage in the admin."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from crm.models.attributes import AttributeDefinition


def coerce_attribute(definition: AttributeDefinition, value: Any) -> Any:
    """Return ``value`` in its stored JSON form for ``definition``, or raise ``ValueError`` saying why not."""
    kind = AttributeDefinition.Type
    if definition.type == kind.TEXT:
        if not isinstance(value, str):
            raise ValueError("expected text")
        return value
    if definition.type == kind.NUMBER:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"expected a number, got {value!r}") from None
        if not number.is_finite():
            raise ValueError("expected a finite number")
        return int(number) if number == number.to_integral_value() else float(number)
    if definition.type == kind.DATE:
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(f"expected a date as YYYY-MM-DD, got {value!r}") from None
    if definition.type == kind.BOOLEAN:
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if definition.type == kind.CHOICE:
        if value not in definition.choices:
            raise ValueError(f"expected one of {', '.join(definition.choices)}, got {value!r}")
        return value
    raise ValueError(f"unknown attribute type {definition.type!r}")  # pragma: no cover - choices are closed


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def validate_attributes(values: Any, definitions: list[AttributeDefinition] | None = None) -> dict[str, Any]:
    """Check a contact's custom attributes; return them normalised.

    Raises ``ValidationError`` on the ``attributes`` field, one message per bad key, naming it.
    Empty values are dropped; required definitions must have a value.
    """
    if values in (None, ""):
        values = {}
    if not isinstance(values, dict):
        raise ValidationError({"attributes": "Custom attributes must be an object of key: value."})
    defs = {d.key: d for d in (definitions if definitions is not None else AttributeDefinition.objects.all())}
    errors: list[str] = []
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        definition = defs.get(key)
        if definition is None:
            errors.append(f"{key}: unknown attribute (define it under Attribute definitions first)")
            continue
        if _is_empty(value):
            continue
        try:
            cleaned[key] = coerce_attribute(definition, value)
        except ValueError as exc:
            errors.append(f"{key}: {exc}")
    for key, definition in defs.items():
        if definition.required and key not in cleaned and not any(e.startswith(f"{key}:") for e in errors):
            errors.append(f"{key}: required")
    if errors:
        raise ValidationError({"attributes": errors})
    return cleaned
