"""``/api/v1/messages/`` (every conversation's messages) and ``/api/v1/conversations/<id>/messages/`` (one
conversation's). POST on either sends an outbound message through the conversation's channel: it is queued
(``message_reply``) and sent by a task, so the answer is 202 with the queued message; follow its ``status``.

Internal notes are staff-only: an API key never sees them (they are not part of the customer conversation a
partner syncs); a staff session, which sees them in the admin anyway, gets them flagged ``is_internal_note``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.concurrency import etag_for
from crm.api.filters import SyncFilter
from crm.api.problems import Problem
from crm.api.resources import ERRORS, IDEMPOTENCY_KEY, PROBLEM, SyncReadViewSet, document_resource
from crm.models import ApiKey, User
from social.models import Conversation, Message
from social.services.outbound import WINDOW_CLOSED, ReplyRefused, message_reply

TEXT_MAX = 4096
# Why a reply was refused, as the problem type a partner can branch on (urn:scrm:problem:<reason>).
REFUSAL_REASONS = {
    WINDOW_CLOSED: "whatsapp_window_closed",
    "The channel is inactive.": "channel_inactive",
    "The conversation has no recipient on this channel.": "no_recipient",
    "Write a message or attach a file.": "empty_message",
}


class MessageSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Message
        fields = (
            "id", "conversation", "channel", "direction", "is_internal_note", "text", "attachments", "template",
            "sender_type", "sender_contact", "sender_user", "provider_message_id", "status", "error",
            "sent_at", "delivered_at", "read_at", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields


class AttachmentSerializer(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.ChoiceField(choices=["image", "video", "audio", "file"])
    url = serializers.URLField(max_length=1000)
    mime_type = serializers.CharField(max_length=100, required=False)
    name = serializers.CharField(max_length=255, required=False)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and (unknown := sorted(set(data) - set(self.fields))):
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class MessageSendSerializer(serializers.Serializer):  # type: ignore[type-arg]
    conversation = serializers.IntegerField(
        required=False, help_text="The conversation to reply in (given by the URL on the nested endpoint)"
    )
    text = serializers.CharField(max_length=TEXT_MAX, allow_blank=True, trim_whitespace=False, default="")
    attachments = AttachmentSerializer(many=True, required=False, help_text="Links to files; not uploaded")

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and (unknown := sorted(set(data) - set(self.fields))):
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class MessageFilter(SyncFilter):
    conversation = filters.NumberFilter(field_name="conversation_id")
    channel = filters.NumberFilter(field_name="channel_id")
    direction = filters.ChoiceFilter(choices=Message.Direction.choices)
    status = filters.MultipleChoiceFilter(choices=Message.Status.choices)

    class Meta:
        model = Message
        fields: list[str] = []


class MessageViewSet(SyncReadViewSet):
    """Registered twice: at ``messages/`` and at ``conversations/<conversation_pk>/messages/``."""

    scope_resource = "messages"
    scope_model = Message
    serializer_class = MessageSerializer
    filterset_class = MessageFilter

    def get_queryset(self) -> QuerySet[Message]:
        messages = Message.objects.all()
        if not self.sees_internal_notes():
            messages = messages.filter(is_internal_note=False)
        conversation = self.conversation_in_url()
        return messages.filter(conversation=conversation) if conversation is not None else messages

    def sees_internal_notes(self) -> bool:
        # Only a staff session: HasResourceScope has already checked its social.view_message permission.
        return not isinstance(self.request.auth, ApiKey) and bool(getattr(self.request.user, "is_staff", False))

    def conversation_in_url(self) -> Conversation | None:
        if "conversation_pk" not in self.kwargs or getattr(self, "swagger_fake_view", False):
            return None
        return get_object_or_404(Conversation.objects.select_related("channel"), pk=self.kwargs["conversation_pk"])

    def create(self, request: Request, **kwargs: Any) -> Response:
        body = MessageSendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data: dict[str, Any] = body.validated_data
        conversation = self.conversation_in_url()
        if conversation is None:
            if "conversation" not in data:
                raise serializers.ValidationError({"conversation": ["Required."]})
            conversation = Conversation.objects.select_related("channel").filter(pk=data["conversation"]).first()
            if conversation is None:
                raise serializers.ValidationError({"conversation": [f"No conversation {data['conversation']}."]})
        elif data.get("conversation", conversation.pk) != conversation.pk:
            raise serializers.ValidationError({"conversation": ["Differs from the conversation in the URL."]})
        try:
            message = message_reply(
                conversation=conversation,
                text=data["text"],
                user=request.user if isinstance(request.user, User) else None,
                attachments=[dict(item) for item in data.get("attachments", [])],
            )
        except ReplyRefused as exc:
            reason = " ".join(exc.messages)
            raise Problem(422, REFUSAL_REASONS.get(reason, "reply_refused"), reason) from None
        response = Response(self.get_serializer(message).data, status=status.HTTP_202_ACCEPTED)
        response["ETag"] = etag_for(message)
        response["Location"] = request.build_absolute_uri(f"/api/v1/messages/{message.pk}/")
        return response


document_resource(MessageViewSet, "message", "messages")
extend_schema(
    summary="Send a message: queued now, sent by a task (202); follow its status",
    parameters=[IDEMPOTENCY_KEY],
    request=MessageSendSerializer,
    responses={
        202: MessageSerializer,
        (422, "application/problem+json"): OpenApiResponse(
            PROBLEM.response,
            description="The channel refuses the reply now; the problem type names why: "
            + ", ".join(f"urn:scrm:problem:{r}" for r in [*REFUSAL_REASONS.values(), "reply_refused"]),
        ),
        **ERRORS,
    },
)(MessageViewSet.create)
