"""Inbound events: read-only, for looking at what a provider sent and retrying a failed one."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from social.models import InboundEvent
from social.services.inbound import inbound_event_retry


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "channel", "provider_event_id", "status", "attempts", "received_at", "processed_at")
    list_filter = ("status", "channel__kind")
    list_select_related = ("channel",)
    search_fields = ("=provider_event_id",)
    date_hierarchy = "received_at"
    fields = (
        "channel",
        "provider_event_id",
        "status",
        "attempts",
        "received_at",
        "last_attempt_at",
        "processed_at",
        "error",
        "content_type",
        "headers",
        "body_text",
    )
    readonly_fields = fields
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: InboundEvent | None = None) -> bool:
        return False

    @admin.action(description="Process the selected failed events again", permissions=["view"])
    def retry(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        count = sum(inbound_event_retry(event=event) for event in queryset)
        self.message_user(request, f"{count} event(s) handed back for processing.", messages.SUCCESS)
