"""Filter pieces every resource shares."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import QuerySet
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


class UpdatedSinceFilter(filters.FilterSet):
    """``updated_after`` / ``updated_before``: what every synced resource offers."""

    updated_after = IsoDateTimeFilter(field_name="updated_at", lookup_expr="gt")
    updated_before = IsoDateTimeFilter(field_name="updated_at", lookup_expr="lte")


class SyncFilter(UpdatedSinceFilter):
    """The update filters plus ``created_after`` / ``created_before``."""

    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")


def tagged(queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
    """The records of ``queryset`` (contacts or companies) carrying the tag named ``value`` (any case)."""
    from crm.models import Tag

    model = queryset.model
    tag_ids = Tag.objects.filter(name__iexact=value.strip()).values("pk")
    links = model.tags.through.objects.filter(tag__in=tag_ids)
    found: QuerySet[Any] = queryset.filter(pk__in=links.values(f"{model._meta.model_name}_id"))
    return found
