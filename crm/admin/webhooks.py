"""Partner webhooks, for administrators: subscriptions (the secret is shown once), and every delivery with
its attempts (request, answer, duration, error) and a Redeliver action."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from crm.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from crm.webhooks.addresses import outbound_url_validate
from crm.webhooks.events import EVENTS
from crm.webhooks.secrets import SecretUnreadable, secret_decrypt, secret_mask
from crm.webhooks.subscriptions import (
    delivery_redeliver,
    subscription_create,
    subscription_rotate_secret,
    subscription_set_active,
    subscription_update,
)


def _event_choices() -> list[tuple[str, str]]:
    return [(name, f"{name}: {text}") for name, text in EVENTS.items()]


class WebhookSubscriptionForm(forms.ModelForm):  # type: ignore[type-arg]
    url = forms.URLField(max_length=2000, assume_scheme="https", help_text="Where events are POSTed, https://…")
    events = forms.MultipleChoiceField(choices=_event_choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookSubscription
        fields = ("owner", "url", "events", "description", "is_active")

    def clean_owner(self) -> Any:
        owner = self.cleaned_data["owner"]
        if owner is not None and owner.is_staff:
            raise forms.ValidationError("Choose the partner's account (the user its API keys act as), not staff.")
        return owner

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        outbound_url_validate(url)
        return url


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = WebhookSubscriptionForm
    list_display = ("url", "owner", "event_count", "is_active", "consecutive_failures", "last_success_at", "deliveries")
    list_select_related = ("owner",)
    list_filter = ("is_active",)
    search_fields = ("url", "description", "owner__username")
    autocomplete_fields = ("owner",)
    actions = ("enable", "disable", "rotate_secret")
    readonly_fields = (
        "secret_hint", "consecutive_failures", "failing_since", "last_success_at", "disabled_at", "disabled_reason",
        "api_key", "created_by", "created_at", "updated_at",
    )  # fmt: skip

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("owner", "url", "events", "description")
        return ("owner", "url", "events", "description", "is_active", *self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The account a subscription belongs to is fixed at creation.
        return (*self.readonly_fields, "owner") if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                subscription_update(subscription=obj, data={k: v for k, v in data.items() if k != "owner"})
                return
            subscription, secret = subscription_create(
                owner=data["owner"], url=data["url"], events=data["events"], description=data["description"],
                created_by=request.user,  # type: ignore[arg-type]
            )  # fmt: skip
        except ValidationError as exc:  # the form ran the same checks; only a race gets here
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            return
        obj.pk = subscription.pk
        obj._state.adding = False
        self.message_user(
            request,
            f"The signing secret is {secret} — give it to the partner now: it is not shown again.",
            messages.WARNING,
        )

    @admin.display(description="Events")
    def event_count(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.events) if len(obj.events) <= 3 else f"{len(obj.events)} events"

    @admin.display(description="Deliveries")
    def deliveries(self, obj: WebhookSubscription) -> str:
        url = reverse("admin:crm_webhookdelivery_changelist") + f"?subscription__id__exact={obj.pk}"
        return format_html('<a href="{}">deliveries</a>', url)

    @admin.display(description="Secret")
    def secret_hint(self, obj: WebhookSubscription) -> str:
        try:
            return secret_mask(secret_decrypt(obj.secret_encrypted))
        except SecretUnreadable:
            return "unreadable with the current key: rotate the secret"

    @admin.action(description="Enable selected subscriptions (failures are forgotten)", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        changed = sum(subscription_set_active(subscription=s, active=True) for s in queryset)
        self.message_user(request, f"Enabled {changed} subscription(s).", messages.SUCCESS)

    @admin.action(description="Disable selected subscriptions", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        changed = sum(subscription_set_active(subscription=s, active=False) for s in queryset)
        self.message_user(request, f"Disabled {changed} subscription(s).", messages.SUCCESS)

    @admin.action(description="Rotate the signing secret of selected subscriptions", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            secret = subscription_rotate_secret(subscription=subscription)
            self.message_user(
                request, f"New secret of {subscription.url}: {secret} — shown only now.", messages.WARNING
            )


class WebhookAttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = (
        "number", "attempted_at", "response_status", "duration_ms", "error", "request_headers", "request_body",
        "response_body",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id", "event", "object_id", "subscription", "status", "attempts", "last_status_code", "created_at",
        "next_attempt_at", "delivered_at",
    )  # fmt: skip
    list_select_related = ("subscription",)
    list_filter = ("status", "event")
    search_fields = ("=id", "=object_id", "subscription__url")
    fields = (
        "subscription", "event", "object_id", "status", "attempts", "retry_from", "next_attempt_at",
        "last_status_code", "last_error", "delivered_at", "created_at", "payload",
    )  # fmt: skip
    readonly_fields = fields
    inlines = (WebhookAttemptInline,)
    actions = ("redeliver",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crm.change_webhookdelivery")

    @admin.action(description="Redeliver selected deliveries now", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        sent, refused = 0, []
        for delivery in queryset.order_by("pk"):
            try:
                delivery_redeliver(delivery=delivery)
                sent += 1
            except ValidationError as exc:
                refused.extend(exc.messages)
        if sent:
            self.message_user(request, f"Sending {sent} delivery(ies) again.", messages.SUCCESS)
        if refused:
            self.message_user(request, " ".join(refused), messages.ERROR)
