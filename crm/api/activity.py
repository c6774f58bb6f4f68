"""Read-only partner resources: ``/api/v1/tags/``, in the same cursor order as everything else (the filters
every synced resource shares are in ``crm.api.filters``)."""

from __future__ import annotations

from django_filters import rest_framework as filters
from rest_framework import serializers

from crm.api.filters import IsoDateTimeFilter
from crm.api.resources import SyncReadViewSet, document_resource
from crm.models import Tag


class TagSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Tag
        fields = ("id", "name", "created_at")
        read_only_fields = fields


class TagFilter(filters.FilterSet):
    name = filters.CharFilter(field_name="name", lookup_expr="iexact")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = Tag
        fields: list[str] = []


class TagViewSet(SyncReadViewSet):
    """Tags never change once created (a rename is a new tag), so they page by creation."""

    scope_resource = "tags"
    scope_model = Tag
    serializer_class = TagSerializer
    filterset_class = TagFilter
    sync_orderings = ("created_at", "name")


document_resource(TagViewSet, "tag", "tags")
