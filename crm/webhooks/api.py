"""``/api/v1/webhook-subscriptions/``: a partner manages its own account's subscriptions (scope "webhooks");
other accounts' subscriptions do not exist for it (404). The secret is in the creation answer (and
``rotate-secret``'s) only; afterwards ``secret_hint`` shows its last characters."""

from __future__ import annotations

from typing import cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.base import PartnerViewSet
from crm.api.problems import Problem
from crm.api.resources import ERRORS, IDEMPOTENCY_KEY, problems
from crm.api.serializers import StrictModelSerializer
from crm.models import ApiKey, User, WebhookSubscription
from crm.webhooks.events import EVENTS, event_scope
from crm.webhooks.secrets import SecretUnreadable, secret_decrypt, secret_mask
from crm.webhooks.subscriptions import (
    subscription_create,
    subscription_delete,
    subscription_rotate_secret,
    subscription_update,
)


class WebhookSubscriptionSerializer(StrictModelSerializer):
    events = serializers.ListField(
        child=serializers.CharField(max_length=40), help_text="Event names: " + ", ".join(EVENTS)
    )
    secret_hint = serializers.SerializerMethodField(help_text="The secret's last characters (it is shown once)")

    class Meta:
        model = WebhookSubscription
        fields: tuple[str, ...] = (
            "id", "url", "events", "description", "is_active", "secret_hint", "consecutive_failures",
            "failing_since", "last_success_at", "disabled_at", "disabled_reason", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = (
            "id", "secret_hint", "consecutive_failures", "failing_since", "last_success_at", "disabled_at",
            "disabled_reason", "created_at", "updated_at",
        )  # fmt: skip

    def get_secret_hint(self, subscription: WebhookSubscription) -> str:
        try:
            return secret_mask(secret_decrypt(subscription.secret_encrypted))
        except SecretUnreadable:
            return "unreadable: rotate the secret"


def _check_scopes(key: ApiKey, events: list[str]) -> None:
    """A key hears only about what it may read: contact events need contacts:read, and so on."""
    missing = {}
    for event in events:
        scope = event_scope(event)
        if scope is not None and not key.has_scope(scope, "read"):
            missing[event] = scope
    if missing:
        detail = "; ".join(f"{event} needs the {scope}:read scope" for event, scope in missing.items())
        raise ValidationError({"events": [f"This API key may not receive these events: {detail}."]})


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    """The creation answer (for the schema): the subscription and its secret."""

    secret = serializers.CharField(read_only=True, help_text="Shown only here: keep it to verify signatures")

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = (*WebhookSubscriptionSerializer.Meta.fields, "secret")


SECRET = inline_serializer("WebhookSecret", {"secret": serializers.CharField()})
EVENT_LIST = inline_serializer(
    "WebhookEvent", {"event": serializers.CharField(), "description": serializers.CharField()}, many=True
)


ONE = {200: WebhookSubscriptionSerializer, **ERRORS}


@extend_schema_view(
    list=extend_schema(
        summary="Your webhook subscriptions", responses={200: WebhookSubscriptionSerializer(many=True), **ERRORS}
    ),
    retrieve=extend_schema(summary="One webhook subscription", responses=ONE),
    create=extend_schema(
        summary="Subscribe a URL to events (the answer holds the signing secret, once)",
        parameters=[IDEMPOTENCY_KEY],
        responses={201: WebhookSubscriptionCreatedSerializer, **problems(422), **ERRORS},
    ),
    partial_update=extend_schema(
        summary='Change the URL, events or description; {"is_active": true} re-enables a disabled one',
        parameters=[IDEMPOTENCY_KEY],
        responses=ONE,
    ),
    update=extend_schema(summary="Replace a subscription's settings", parameters=[IDEMPOTENCY_KEY], responses=ONE),
    destroy=extend_schema(summary="Unsubscribe", responses={204: None, **ERRORS}),
    events=extend_schema(summary="The events you can subscribe to", responses={200: EVENT_LIST, **ERRORS}),
    rotate_secret=extend_schema(
        summary="Replace the signing secret (the new one is shown once)",
        request=None,
        responses={200: SECRET, **ERRORS},
    ),
)
class WebhookSubscriptionViewSet(PartnerViewSet):
    """Your account's webhook subscriptions: signed POSTs of the events you choose (see README, Webhooks)."""

    scope_resource = "webhooks"
    scope_model = WebhookSubscription
    serializer_class = WebhookSubscriptionSerializer
    sync_orderings = ("created_at", "updated_at")
    settle_horizon = False
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[WebhookSubscription]:
        queryset = WebhookSubscription.objects.all()
        if isinstance(self.request.auth, ApiKey):
            queryset = queryset.filter(owner=cast(User, self.request.user))  # a partner sees its own account's only
        return queryset

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiKey):
            raise Problem(403, "key_required", "Subscriptions belong to a partner account: create them with its API "
                          "key, or in the admin (Webhook subscriptions).")  # fmt: skip
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _check_scopes(request.auth, data["events"])
        subscription, secret = subscription_create(
            owner=cast(User, request.user),
            url=data["url"],
            events=data["events"],
            description=data.get("description", ""),
            api_key=request.auth,
        )
        if data.get("is_active") is False:
            subscription = subscription_update(subscription=subscription, data={"is_active": False})
        body = {**self.get_serializer(subscription).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        subscription = self.get_object()
        serializer = self.get_serializer(subscription, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        if isinstance(request.auth, ApiKey) and "events" in serializer.validated_data:
            _check_scopes(request.auth, serializer.validated_data["events"])
        subscription = subscription_update(subscription=subscription, data=dict(serializer.validated_data))
        return Response(self.get_serializer(subscription).data)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        subscription_delete(subscription=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=False, methods=["get"], url_path="events", pagination_class=None, filter_backends=[])
    def events(self, request: Request) -> Response:
        """The events one can subscribe to, with what each means."""
        return Response([{"event": name, "description": text} for name, text in EVENTS.items()])

    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        return Response({"secret": subscription_rotate_secret(subscription=self.get_object())})
