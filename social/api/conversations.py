"""``/api/v1/conversations/``: read, and PATCH status / assignee / team / priority / labels through the same
service the conversation page uses (``conversation_update``), with ``If-Match`` like every other write."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.concurrency import check_if_match
from crm.api.filters import SyncFilter
from crm.api.resources import ERRORS, IDEMPOTENCY_KEY, IF_MATCH, SyncReadViewSet, document_resource, problems
from crm.api.serializers import StrictModelSerializer
from crm.models import User
from social.models import Conversation
from social.services.conversations import conversation_update

LABEL_MAX = 64


class ConversationSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Conversation
        fields = (
            "id", "channel", "contact", "identity", "status", "snoozed_until", "priority", "assignee", "team",
            "labels", "last_message_at", "last_inbound_at", "first_response_at", "resolved_at", "created_at",
            "updated_at",
        )  # fmt: skip
        read_only_fields = fields


class ConversationChangeSerializer(StrictModelSerializer):
    """What a partner may change; every key is optional (PATCH)."""

    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_staff=True, is_active=True), allow_null=True, required=False,
        help_text="A staff member's id; null unassigns",
    )  # fmt: skip
    labels = serializers.ListField(
        child=serializers.CharField(max_length=LABEL_MAX), required=False, help_text="A list replaces the labels"
    )
    team = serializers.CharField(max_length=100, allow_blank=True, required=False)

    class Meta:
        model = Conversation
        fields = ("status", "snoozed_until", "assignee", "team", "priority", "labels")


class ConversationFilter(SyncFilter):
    channel = filters.NumberFilter(field_name="channel_id")
    status = filters.MultipleChoiceFilter(choices=Conversation.Status.choices)
    assignee = filters.NumberFilter(field_name="assignee_id", help_text="Staff member id")
    unassigned = filters.BooleanFilter(field_name="assignee", lookup_expr="isnull")
    team = filters.CharFilter(field_name="team")
    contact = filters.NumberFilter(field_name="contact_id")

    class Meta:
        model = Conversation
        fields: list[str] = []


class ConversationViewSet(SyncReadViewSet):
    scope_resource = "conversations"
    scope_model = Conversation
    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter

    def get_queryset(self) -> QuerySet[Conversation]:
        return Conversation.objects.all()

    @extend_schema(
        summary="Change a conversation's status, assignee, team, priority or labels",
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        request=ConversationChangeSerializer,
        responses={200: ConversationSerializer, **problems(412), **ERRORS},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        change = ConversationChangeSerializer(data=request.data, partial=True)
        change.is_valid(raise_exception=True)
        data: dict[str, Any] = change.validated_data
        with transaction.atomic():
            locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
            check_if_match(request, locked)
            status = data.get("status")
            if status is None and "snoozed_until" in data:
                status = locked.status  # a new wake-up time for a snoozed conversation
            conversation_update(
                conversation=locked,
                actor=request.user if isinstance(request.user, User) else None,
                status=status,
                snoozed_until=data.get("snoozed_until"),
                assignee=data.get("assignee"),
                assignee_changed="assignee" in data,
                team=data.get("team"),
                priority=data.get("priority"),
                labels=data.get("labels"),
            )
        return self.with_etag(locked)


document_resource(ConversationViewSet, "conversation", "conversations")
