"""Conversations, messages and identities.

The conversation page is where staff answer: the thread (customer text always escaped by the template),
a reply box that sends through the conversation's channel, internal notes, the WhatsApp template form
when the 24-hour window is closed, quick assign / resolve / snooze buttons, and the contact beside it.
Every button calls a service; the page itself holds no business logic.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from crm.models import Contact, User
from social.models import Channel, Conversation, Identity, Mention, Message
from social.services.conversations import conversation_update
from social.services.identities import identity_relink
from social.services.outbound import (
    ReplyRefused,
    message_reply,
    message_retry,
    message_send_template,
    note_add,
    whatsapp_window_open,
)

THREAD_LIMIT = 200  # newest messages shown on the page; the Messages list has them all
SNOOZE_CHOICES = {"1h": dt.timedelta(hours=1), "4h": dt.timedelta(hours=4), "1d": dt.timedelta(days=1)}


def _attachment_link(item: Any) -> dict[str, str]:
    """A label and a link for an attachment; only http(s) URLs become links (no ``javascript:`` from customers)."""
    if not isinstance(item, dict):
        return {"label": "attachment", "url": ""}
    url = str(item.get("url") or "")
    label = str(item.get("name") or item.get("mime_type") or item.get("type") or "attachment")
    return {"label": label, "url": url if url.lower().startswith(("https://", "http://")) else ""}


class ConversationForm(forms.ModelForm):  # type: ignore[type-arg]
    labels = forms.CharField(required=False, help_text="Comma-separated, e.g. billing, vip")

    class Meta:
        model = Conversation
        fields = ("status", "snoozed_until", "priority", "assignee", "team", "labels")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["labels"] = ", ".join(self.instance.labels or [])

    def clean_labels(self) -> list[str]:
        raw = self.cleaned_data.get("labels") or ""
        labels = []
        for part in raw.split(","):
            label = part.strip()
            if label and label not in labels:
                labels.append(label[:50])
        return labels

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if data.get("status") == Conversation.Status.SNOOZED:
            until = data.get("snoozed_until")
            if until is None:
                self.add_error("snoozed_until", "Snoozing needs a time to wake up.")
            elif until <= timezone.now():
                self.add_error("snoozed_until", "The wake-up time must be in the future.")
        return data


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ConversationForm
    change_form_template = "admin/social/conversation/change_form.html"
    list_display = (
        "id",
        "contact",
        "channel",
        "status",
        "priority",
        "assignee",
        "team",
        "last_message_at",
    )
    list_filter = ("status", "priority", "channel", ("assignee", admin.RelatedOnlyFieldListFilter))
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
        "listening_mentions",
    )
    fieldsets = (
        (None, {"fields": ("status", "snoozed_until", "priority", "assignee", "team", "labels")}),
        ("Details", {"classes": ("collapse",), "fields": readonly_fields}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).select_related("channel", "contact", "identity", "assignee")

    @admin.display(description="Opened from mentions")
    def listening_mentions(self, obj: Conversation) -> str:
        """The listening mentions staff answered in this conversation (``social.listening.engage``)."""
        links = [
            format_html('<a href="{}">{}</a>', reverse("admin:social_mention_change", args=[pk]), str(text)[:80] or pk)
            for pk, text in Mention.objects.filter(conversation=obj).order_by("-pk").values_list("pk", "text")[:20]
        ]
        return format_html_join(mark_safe("<br>"), "{}", ((link,) for link in links)) if links else "—"

    # --- the answer buttons -------------------------------------------------------------------------

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST" and object_id is not None:
            action = next((name for name in self.ACTIONS if name in request.POST), None)
            if action is not None:
                conversation = self.get_object(request, object_id)
                if conversation is None:
                    raise Http404("No such conversation.")
                if not self.has_change_permission(request, conversation):
                    raise PermissionDenied
                self._run_action(request, conversation, action)
                return HttpResponseRedirect(request.path)
        context = dict(extra_context or {})
        if object_id is not None:
            conversation = self.get_object(request, object_id)
            if conversation is not None:
                context.update(self._thread_context(request, conversation))
        return super().changeform_view(request, object_id, form_url, context)

    ACTIONS = ("_send_reply", "_add_note", "_send_template", "_assign_me", "_resolve", "_reopen", "_snooze")

    def _run_action(self, request: HttpRequest, conversation: Conversation, action: str) -> None:
        user: User = request.user  # type: ignore[assignment]
        text = request.POST.get("reply_text", "")
        try:
            if action == "_send_reply":
                message_reply(conversation=conversation, text=text, user=user)
                self.message_user(request, "Reply queued; its status shows in the thread.", messages.SUCCESS)
            elif action == "_add_note":
                note_add(conversation=conversation, text=text, user=user)
                self.message_user(request, "Internal note added (not sent to the customer).", messages.SUCCESS)
            elif action == "_send_template":
                name = request.POST.get("template_name", "").strip()
                if not name:
                    raise ReplyRefused("Enter the name of an approved template.")
                language = request.POST.get("template_language", "").strip() or "en_US"
                message_send_template(conversation=conversation, name=name, language=language, user=user)
                self.message_user(request, f"Template “{name}” queued.", messages.SUCCESS)
            elif action == "_assign_me":
                conversation_update(conversation=conversation, actor=user, assignee=user, assignee_changed=True)
                self.message_user(request, "Assigned to you.", messages.SUCCESS)
            elif action == "_resolve":
                conversation_update(conversation=conversation, actor=user, status=Conversation.Status.RESOLVED)
                self.message_user(request, "Conversation resolved.", messages.SUCCESS)
            elif action == "_reopen":
                conversation_update(conversation=conversation, actor=user, status=Conversation.Status.OPEN)
                self.message_user(request, "Conversation reopened.", messages.SUCCESS)
            elif action == "_snooze":
                delay = SNOOZE_CHOICES.get(request.POST.get("_snooze", ""), SNOOZE_CHOICES["1h"])
                until = timezone.now() + delay
                conversation_update(
                    conversation=conversation, actor=user, status=Conversation.Status.SNOOZED, snoozed_until=until
                )
                self.message_user(request, f"Snoozed until {timezone.localtime(until):%Y-%m-%d %H:%M}.")
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)

    def _thread_context(self, request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
        # In the order the messages were sent (the provider's time; ours for replies not sent yet), not the
        # order the workers stored them: two workers can store a customer's two quick messages in reverse.
        sent_order = Coalesce("sent_at", "created_at")
        newest = list(
            conversation.messages.select_related("sender_user", "sender_contact").order_by(sent_order.desc(), "-id")[
                : THREAD_LIMIT + 1
            ]
        )
        contact = (
            Contact.all_objects.select_related("company", "owner", "analysis")
            .prefetch_related("emails", "phones", "tags")
            .filter(pk=conversation.contact_id)
            .first()
        )
        whatsapp_closed = conversation.channel.kind == Channel.Kind.WHATSAPP and not whatsapp_window_open(conversation)
        thread = list(reversed(newest[:THREAD_LIMIT]))
        for message in thread:
            message.display_attachments = [_attachment_link(item) for item in message.attachments or []]  # type: ignore[attr-defined]
        return {
            "thread": thread,
            "thread_truncated": len(newest) > THREAD_LIMIT,
            "thread_contact": contact,
            "whatsapp_window_closed": whatsapp_closed,
            "can_answer": self.has_change_permission(request, conversation),
            "other_conversations": Conversation.objects.filter(contact_id=conversation.contact_id)
            .exclude(pk=conversation.pk)
            .select_related("channel")
            .order_by("-last_message_at", "-id")[:10],
        }

    # --- the form's own fields go through the service too --------------------------------------------

    def save_model(self, request: HttpRequest, obj: Conversation, form: ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        if not change:  # pragma: no cover - conversations are never added in the admin
            raise PermissionDenied
        data = form.cleaned_data
        stored = Conversation.objects.get(pk=obj.pk)
        try:
            conversation_update(
                conversation=stored,
                actor=request.user,  # type: ignore[arg-type]
                status=data["status"],
                snoozed_until=data.get("snoozed_until"),
                assignee=data.get("assignee"),
                assignee_changed=getattr(data.get("assignee"), "pk", None) != stored.assignee_id,
                team=data.get("team", ""),
                priority=data["priority"],
                labels=data.get("labels", []),
            )
        except ValidationError as exc:
            # Only a race can get here (the form validated): another conversation became the open one.
            self.message_user(request, " ".join(exc.messages), messages.ERROR)


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
