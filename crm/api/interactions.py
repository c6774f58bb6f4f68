"""``/api/v1/interactions/``: calls, e-mails, meetings, notes and tasks. Partners read them in sync order, push
the ones logged in their own system by external id (``PUT by-external-id/<id>/``, ``bulk/``), delete them,
and learn about deletions from ``deletions/``: interactions are deleted for good, each leaving a tombstone
(``crm.services.tombstones``)."""

from __future__ import annotations

from typing import Any, cast

from django.db import transaction
from django_filters import rest_framework as filters
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.concurrency import check_if_match
from crm.api.filters import IsoDateTimeFilter, SyncFilter
from crm.api.resources import SyncUpsertViewSet, deletions_page, document_resource
from crm.api.serializers import StrictModelSerializer, resolve_external_id
from crm.models import Company, Contact, Interaction, InteractionTombstone, User
from crm.services.interaction_writes import interaction_delete, interaction_upsert
from crm.services.tombstones import tombstone_horizon


class InteractionSerializer(StrictModelSerializer):
    staff = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_staff=True, is_active=True), allow_null=True, required=False,
        help_text="A staff member's id",
    )  # fmt: skip
    contact = serializers.PrimaryKeyRelatedField(queryset=Contact.objects.all(), allow_null=True, required=False)
    contact_external_id = serializers.CharField(
        required=False, allow_null=True, write_only=True,
        help_text="The contact's external id; an alternative to contact when writing",
    )  # fmt: skip
    company = serializers.PrimaryKeyRelatedField(queryset=Company.objects.all(), allow_null=True, required=False)
    company_external_id = serializers.CharField(
        required=False, allow_null=True, write_only=True,
        help_text="The company's external id; an alternative to company when writing",
    )  # fmt: skip

    class Meta:
        model = Interaction
        fields = (
            "id", "external_id", "kind", "direction", "subject", "body", "occurred_at", "duration", "outcome",
            "staff", "contact", "contact_external_id", "company", "company_external_id", "due_at", "done",
            "done_at", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = ("id", "done_at", "created_at", "updated_at")
        # Required when creating (the service reports them), not when updating a few fields.
        extra_kwargs = {"kind": {"required": False}, "occurred_at": {"required": False}}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        resolve_external_id(attrs, "contact", Contact)
        resolve_external_id(attrs, "company", Company)
        return attrs


class InteractionFilter(SyncFilter):
    kind = filters.MultipleChoiceFilter(choices=Interaction.Kind.choices)
    contact = filters.NumberFilter(field_name="contact_id")
    company = filters.NumberFilter(field_name="company_id")
    staff = filters.NumberFilter(field_name="staff_id", help_text="Staff member id")
    external_id = filters.CharFilter(field_name="external_id")
    occurred_after = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Interaction
        fields: list[str] = []


class InteractionViewSet(SyncUpsertViewSet):
    scope_resource = "interactions"
    scope_model = Interaction
    serializer_class = InteractionSerializer
    filterset_class = InteractionFilter
    upsert_service = staticmethod(interaction_upsert)

    def destroy(self, request: Request, pk: str) -> Response:
        record = self.get_object()
        with transaction.atomic():
            locked = Interaction.objects.select_for_update().filter(pk=record.pk).first()
            if locked is None:
                raise exceptions.NotFound()
            check_if_match(request, locked)
            interaction_delete(record=locked, actor=cast(User, request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=False, methods=["get"], url_path="deletions")
    def deletions(self, request: Request) -> Response:
        """Tombstones of deleted interactions, as the soft-deleted resources' feeds list theirs."""
        horizon = tombstone_horizon()
        return deletions_page(request, InteractionTombstone.objects.filter(deleted_at__gte=horizon), horizon)


document_resource(InteractionViewSet, "interaction", "interactions")
