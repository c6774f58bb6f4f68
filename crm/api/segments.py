"""``/api/v1/segments/`` (read) and ``/api/v1/segments/<id>/members/``: the segment's contacts now (a dynamic
segment evaluated at the request, a static one its frozen list), in the contacts' cursor order and shape.

Members are contact records, so listing them needs ``contacts:read`` besides ``segments:read``: the segments
scope alone must not become a way round the contacts scope."""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.contacts import ContactSerializer, ContactViewSet
from crm.api.filters import UpdatedSinceFilter
from crm.api.pagination import MAX_LIMIT
from crm.api.resources import ERRORS, SyncReadViewSet, document_resource
from crm.models import ApiKey, Segment
from crm.services.segments import segment_members


class SegmentSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Segment
        fields = ("id", "name", "description", "kind", "definition", "frozen_from", "frozen_at", "created_at",
                  "updated_at")  # fmt: skip
        read_only_fields = fields


class SegmentFilter(UpdatedSinceFilter):
    kind = filters.ChoiceFilter(choices=Segment.Kind.choices)
    name = filters.CharFilter(field_name="name", lookup_expr="iexact")

    class Meta:
        model = Segment
        fields: list[str] = []


class SegmentViewSet(SyncReadViewSet):
    scope_resource = "segments"
    scope_model = Segment
    serializer_class = SegmentSerializer
    filterset_class = SegmentFilter

    def get_queryset(self) -> QuerySet[Segment]:
        return Segment.objects.all()

    @extend_schema(
        summary="The segment's member contacts now, in (updated_at, id) order (needs contacts:read too)",
        filters=False,
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR, description="The next_cursor of the previous page"),
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"Records per page (1 to {MAX_LIMIT})"),
            OpenApiParameter(
                "ordering", OpenApiTypes.STR, enum=["updated_at", "-updated_at", "created_at", "-created_at"]
            ),
        ],
        responses={200: ContactSerializer(many=True), **ERRORS},
    )
    @action(detail=True, methods=["get"], url_path="members", filter_backends=[], serializer_class=ContactSerializer)
    def members(self, request: Request, pk: str) -> Response:
        segment = self.get_object()
        if isinstance(request.auth, ApiKey):
            if not request.auth.has_scope("contacts", "read"):
                raise exceptions.PermissionDenied("Listing members needs the contacts:read scope too.")
        elif not request.user.has_perm("crm.view_contact"):
            raise exceptions.PermissionDenied("Your account may not read contacts.")
        contacts = segment_members(segment, within=ContactViewSet().get_queryset())
        page = self.paginate_queryset(contacts)
        return self.get_paginated_response(ContactSerializer(page, many=True).data)


document_resource(SegmentViewSet, "segment", "segments")
