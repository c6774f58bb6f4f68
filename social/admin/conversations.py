"""Conversations, messages and identities: lists for staff (the reply page comes with its own issue)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from social.models import Conversation, Identity, Message
from social.services.identities import identity_relink
from social.services.outbound import message_retry


class MessageInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Message
    fields = (
        "created_at",
        "direction",
        "sender_type",
        "is_internal_note",
        "text",
        "status",
        "error",
        "language",
        "sentiment",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "contact", "channel", "status", "priority", "assignee", "team", "last_message_at")
    list_filter = ("status", "priority", "channel")
    list_select_related = ("contact", "channel", "assignee")
    search_fields = ("contact__search_name",)
    autocomplete_fields = ("assignee",)
    readonly_fields = (
        "channel",
        "contact",
        "identity",
        "last_message_at",
        "last_inbound_at",
        "first_response_at",
        "resolved_at",
        "created_at",
    )
    fields = (
        "channel",
        "contact",
        "identity",
        "status",
        "snoozed_until",
        "priority",
        "assignee",
        "team",
        "labels",
        *readonly_fields[3:],
    )
    inlines = [MessageInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "conversation",
        "channel",
        "direction",
        "sender_type",
        "short_text",
        "status",
        "language",
        "sentiment",
        "created_at",
    )
    list_filter = ("direction", "status", "is_internal_note", "channel")
    list_select_related = ("conversation", "channel")
    search_fields = ("=provider_message_id",)
    readonly_fields = (
        "conversation",
        "channel",
        "direction",
        "is_internal_note",
        "text",
        "attachments",
        "template",
        "sender_type",
        "sender_contact",
        "sender_user",
        "provider_message_id",
        "status",
        "error",
        "send_attempts",
        "next_attempt_at",
        "language",
        "sentiment",
        "sent_at",
        "delivered_at",
        "read_at",
        "created_at",
    )
    actions = ["retry_sending"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="text")
    def short_text(self, obj: Message) -> str:
        return obj.text[:80]

    @admin.action(description="Send the selected failed messages again", permissions=["change"])
    def retry_sending(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = sum(message_retry(message=message) for message in queryset)
        self.message_user(request, f"{count} message(s) queued again.", messages.SUCCESS)


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("__str__", "channel", "external_id", "contact", "phone", "email", "last_seen_at")
    list_filter = ("channel",)
    list_select_related = ("channel", "contact")
    search_fields = ("=external_id", "display_name", "handle")
    autocomplete_fields = ("contact",)
    fields = (
        "channel",
        "external_id",
        "contact",
        "display_name",
        "handle",
        "avatar_url",
        "phone",
        "email",
        "created_at",
        "last_seen_at",
    )
    readonly_fields = (
        "channel",
        "external_id",
        "display_name",
        "handle",
        "avatar_url",
        "phone",
        "email",
        "created_at",
        "last_seen_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Identity, form: ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        # Re-linking moves the identity's conversations too: that is the service's job, not a plain save.
        identity_relink(identity=Identity.objects.get(pk=obj.pk), contact=obj.contact, actor=request.user)  # type: ignore[arg-type]
