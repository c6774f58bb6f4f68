"""Filter pieces every resource shares."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, converted to UTC. PostgreSQL refuses offsets beyond ±15:59 that Python accepts
    (``+18:38``), and a year-1 time with a negative offset does not exist in UTC: both are a 400, not a 500."""

    def clean(self, value: Any) -> Any:
        cleaned = super().clean(value)
        if isinstance(cleaned, dt.datetime) and cleaned.tzinfo is not None:
            try:
                return cleaned.astimezone(dt.UTC)
            except OverflowError:
                raise forms.ValidationError("The time is out of range.", code="invalid") from None
        return cleaned


class IsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
