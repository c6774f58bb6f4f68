"""Listening admin: monitors (query validated on save), mentions with the staff actions, feeds (address
checked on save), partners, blocks.

Mention actions take their input from the boxes beside the action menu (sentiment, tag) and call the
listening services; blocking an author or site also marks their stored mentions irrelevant.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from crm.webhooks.addresses import outbound_url_validate
from social import conf as social_conf
from social.admin.listening_engage import MentionEngageMixin
from social.crypto import CredentialsUnreadable, mask
from social.listening.feeds import feeds_poll_now
from social.listening.services import (
    authors_block,
    mentions_correct_sentiment,
    mentions_mark_irrelevant,
    mentions_tag,
    sites_block,
)
from social.models import (
    Alert,
    AlertRule,
    BlockedAuthor,
    BlockedSite,
    Feed,
    Mention,
    MentionDailyStat,
    Monitor,
    PartnerSource,
    SourceKind,
)


class MonitorForm(forms.ModelForm):  # type: ignore[type-arg]
    languages = forms.CharField(
        required=False, help_text="Comma-separated ISO 639-1 codes (en, de, fr); empty matches every language"
    )
    source_kinds = forms.MultipleChoiceField(
        choices=SourceKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked matches every source",
    )

    class Meta:
        model = Monitor
        fields = ("name", "kind", "query", "languages", "source_kinds", "is_active")
        widgets = {"query": forms.Textarea(attrs={"rows": 3, "cols": 80})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["languages"] = ", ".join(self.instance.languages)

    def clean_languages(self) -> list[str]:
        raw = self.cleaned_data.get("languages") or ""
        return [code.strip().lower() for code in raw.split(",") if code.strip()]


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = MonitorForm
    list_display = ("name", "kind", "query", "is_active", "updated_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "query")


class MentionActionForm(ActionForm):
    sentiment = forms.ChoiceField(
        choices=[("", "— sentiment —"), *Mention.Sentiment.choices], required=False, label="Sentiment"
    )
    tag = forms.CharField(required=False, label="Tag", widget=forms.TextInput(attrs={"size": 12, "placeholder": "tag"}))


@admin.register(Mention)
class MentionAdmin(MentionEngageMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    action_form = MentionActionForm
    list_display = (
        "__str__",
        "source_kind",
        "author",
        "sentiment_label",
        "language",
        "posted_at",
        "is_irrelevant",
        "contact",
    )
    list_filter = ("source_kind", "sentiment_label", "is_irrelevant", "sentiment_corrected", "monitors")
    list_select_related = ("contact",)
    search_fields = ("text", "author_handle", "author_name")
    date_hierarchy = "posted_at"
    readonly_fields = (
        "source_kind",
        "source_ref",
        "external_id",
        "feed",
        "partner",
        "channel",
        "author_handle",
        "author_name",
        "text",
        "url",
        "site",
        "posted_at",
        "received_at",
        "reach",
        "language",
        "sentiment_score",
        "monitors",
        "contact",
        "conversation",
        "task",
    )
    fields = (*readonly_fields, "sentiment_label", "sentiment_corrected", "tags", "is_irrelevant")
    actions = ("correct_sentiment", "add_tag", "mark_irrelevant", "block_author", "block_site")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # mentions come from their sources

    def has_delete_permission(self, request: HttpRequest, obj: Mention | None = None) -> bool:
        return False  # "Mark irrelevant" instead: a deleted mention would come back with the next poll

    @admin.display(description="Author", ordering="author_handle")
    def author(self, obj: Mention) -> str:
        return obj.author_name or obj.author_handle

    def save_model(self, request: HttpRequest, obj: Mention, form: Any, change: bool) -> None:
        if "sentiment_label" in form.changed_data:
            obj.sentiment_corrected = True  # a label set by hand is not recomputed
        if {"sentiment_label", "is_irrelevant"} & set(form.changed_data):
            obj.stats_dirty = True  # the day's statistics are recomputed by the next sweep
        super().save_model(request, obj, form, change)

    @admin.action(description="Correct sentiment (choose it beside the menu)", permissions=["change"])
    def correct_sentiment(self, request: HttpRequest, queryset: QuerySet[Mention]) -> None:
        label = self._action_value(request, "sentiment")
        if not label:
            self.message_user(
                request, "Choose a sentiment in the Sentiment box next to the action menu.", messages.ERROR
            )
            return
        changed = mentions_correct_sentiment(mentions=queryset, label=label)
        self.message_user(request, f"{changed} mention(s) marked {Mention.Sentiment(label).label}.", messages.SUCCESS)

    @admin.action(description="Add tag (type it beside the menu)", permissions=["change"])
    def add_tag(self, request: HttpRequest, queryset: QuerySet[Mention]) -> None:
        tag = self._action_value(request, "tag")
        if not tag or not str(tag).strip():
            self.message_user(request, "Type a tag in the Tag box next to the action menu.", messages.ERROR)
            return
        added = mentions_tag(mentions=queryset, tag=str(tag))
        self.message_user(request, f"Tag “{str(tag).strip()}” added to {added} mention(s).", messages.SUCCESS)

    @admin.action(description="Mark irrelevant", permissions=["change"])
    def mark_irrelevant(self, request: HttpRequest, queryset: QuerySet[Mention]) -> None:
        changed = mentions_mark_irrelevant(mentions=queryset)
        self.message_user(request, f"{changed} mention(s) marked irrelevant.", messages.SUCCESS)

    @admin.action(description="Block the authors (later mentions are not stored)", permissions=["change"])
    def block_author(self, request: HttpRequest, queryset: QuerySet[Mention]) -> None:
        handles = set(queryset.exclude(author_handle="").values_list("author_handle", flat=True))
        if not handles:
            self.message_user(request, "None of these mentions has an author handle to block.", messages.WARNING)
            return
        marked = authors_block(handles=handles, reason=f"blocked by {request.user}")
        self.message_user(
            request,
            f"Blocked {len(handles)} author(s): {', '.join(sorted(handles))}; "
            f"{marked} stored mention(s) marked irrelevant.",
            messages.SUCCESS,
        )

    @admin.action(description="Block the sites (later mentions are not stored)", permissions=["change"])
    def block_site(self, request: HttpRequest, queryset: QuerySet[Mention]) -> None:
        sites = set(queryset.exclude(site="").values_list("site", flat=True))
        if not sites:
            self.message_user(request, "None of these mentions has a site to block.", messages.WARNING)
            return
        marked = sites_block(domains=sites, reason=f"blocked by {request.user}")
        self.message_user(
            request,
            f"Blocked {len(sites)} site(s): {', '.join(sorted(sites))}; {marked} stored mention(s) marked irrelevant.",
            messages.SUCCESS,
        )

    def _action_value(self, request: HttpRequest, name: str) -> Any:
        form = self.action_form(request.POST)
        form.fields["action"].choices = self.get_action_choices(request)  # type: ignore[attr-defined]
        if not form.is_valid():
            return None
        return form.cleaned_data.get(name) or None


class FeedForm(forms.ModelForm):  # type: ignore[type-arg]
    url = forms.URLField(max_length=1000, assume_scheme="https")

    class Meta:
        model = Feed
        fields = ("name", "url", "is_active", "poll_interval_minutes", "next_poll_at")

    def clean_url(self) -> str:
        # The partner webhooks' address policy: in production https to public addresses only (no SSRF).
        # Every poll checks again, since what a name resolves to can change.
        url: str = self.cleaned_data["url"]
        outbound_url_validate(url)
        return url


@admin.register(Feed)
class FeedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = FeedForm
    list_display = ("name", "url", "is_active", "status", "last_polled_at", "consecutive_failures", "last_error")
    list_filter = ("status", "is_active")
    search_fields = ("name", "url")
    fields = ("name", "url", "is_active", "poll_interval_minutes", "next_poll_at")
    readonly_fields = ("status", "last_error", "last_polled_at", "consecutive_failures", "etag", "last_modified")
    actions = ("poll_now",)

    def get_fields(self, request: HttpRequest, obj: Feed | None = None) -> Any:
        return self.fields + (self.readonly_fields if obj else ())

    @admin.action(description="Poll now", permissions=["change"])
    def poll_now(self, request: HttpRequest, queryset: QuerySet[Feed]) -> None:
        count = feeds_poll_now(feed_ids=list(queryset.filter(is_active=True).values_list("id", flat=True)))
        self.message_user(request, f"{count} feed(s) queued for polling.", messages.SUCCESS)


class PartnerSourceForm(forms.ModelForm):  # type: ignore[type-arg]
    signing_secret = forms.CharField(
        required=False,
        min_length=32,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Shared with the partner, at least 32 characters. Leave blank to keep the stored one.",
    )

    class Meta:
        model = PartnerSource
        fields = ("name", "is_active")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.instance.secret_encrypted and not cleaned.get("signing_secret"):
            self.add_error("signing_secret", "A new partner source needs its signing secret.")
        return cleaned

    def save(self, commit: bool = True) -> PartnerSource:
        instance: PartnerSource = super().save(commit=False)
        if self.cleaned_data.get("signing_secret"):
            instance.set_signing_secret(self.cleaned_data["signing_secret"])
        if commit:
            instance.save()
        return instance


@admin.register(PartnerSource)
class PartnerSourceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = PartnerSourceForm
    list_display = ("name", "is_active", "created_at")
    readonly_fields = ("ingest_url", "stored_secret")

    @admin.display(description="Ingestion URL")
    def ingest_url(self, obj: PartnerSource) -> str:
        if not obj.pk:
            return "Shown after saving."
        path = reverse("listening:ingest", args=[obj.ingest_key])
        return format_html("<code>{}{}</code>", social_conf.public_url(), path)

    @admin.display(description="Stored secret")
    def stored_secret(self, obj: PartnerSource) -> str:
        try:
            return mask(obj.signing_secret) if obj.secret_encrypted else "Not set yet."
        except CredentialsUnreadable:
            return "Unreadable (CHANNEL_SECRETS_KEY changed?): enter it again."


@admin.register(BlockedAuthor)
class BlockedAuthorAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("handle", "reason", "created_at")
    search_fields = ("handle",)
    fields = ("handle", "reason")

    def save_model(self, request: HttpRequest, obj: BlockedAuthor, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            return
        marked = authors_block(handles=[obj.handle], reason=obj.reason)
        self.message_user(request, f"{marked} stored mention(s) by this author marked irrelevant.", messages.INFO)


@admin.register(BlockedSite)
class BlockedSiteAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("domain", "reason", "created_at")
    search_fields = ("domain",)
    fields = ("domain", "reason")

    def save_model(self, request: HttpRequest, obj: BlockedSite, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            return
        marked = sites_block(domains=[obj.domain], reason=obj.reason)
        self.message_user(request, f"{marked} stored mention(s) from this site marked irrelevant.", messages.INFO)


@admin.register(MentionDailyStat)
class MentionDailyStatAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: the daily counts per monitor the statistics sweep keeps (recomputed every five minutes)."""

    list_display = ("day", "monitor", "mentions", "positive", "neutral", "negative", "negative_percent")
    list_filter = ("monitor__kind", "monitor")
    list_select_related = ("monitor",)
    date_hierarchy = "day"

    @admin.display(description="Negative share")
    def negative_percent(self, obj: MentionDailyStat) -> str:
        return f"{obj.negative_share:.0%}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MentionDailyStat | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MentionDailyStat | None = None) -> bool:
        return False


class AlertRuleForm(forms.ModelForm):  # type: ignore[type-arg]
    webhook_url = forms.URLField(
        required=False, assume_scheme="https", help_text="Partner URL receiving a signed POST", max_length=1000
    )
    webhook_secret = forms.CharField(
        required=False,
        min_length=32,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Signs the webhook POST (32+ characters). Leave blank to keep the stored one.",
    )

    class Meta:
        model = AlertRule
        fields = (
            "name",
            "monitor",
            "metric",
            "trigger",
            "window_minutes",
            "baseline_windows",
            "k",
            "threshold",
            "min_mentions",
            "email_to",
            "webhook_url",
            "is_active",
        )

    def clean_webhook_url(self) -> str:
        # The partner webhooks' address policy (in production https to public addresses only), as feeds have.
        url: str = self.cleaned_data.get("webhook_url") or ""
        if url:
            outbound_url_validate(url)
        return url

    def clean_email_to(self) -> str:
        raw = self.cleaned_data.get("email_to") or ""
        addresses = [a.strip() for a in raw.split(",") if a.strip()]
        validator = forms.EmailField()
        for address in addresses:
            validator.clean(address)
        return ", ".join(addresses)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        has_secret = bool(self.instance.webhook_secret_encrypted or cleaned.get("webhook_secret"))
        if cleaned.get("webhook_url") and not has_secret:
            self.add_error("webhook_secret", "A webhook needs its signing secret.")
        if not cleaned.get("email_to") and not cleaned.get("webhook_url"):
            self.add_error("email_to", "Give an e-mail address or a webhook URL to notify.")
        return cleaned

    def save(self, commit: bool = True) -> AlertRule:
        instance: AlertRule = super().save(commit=False)
        if self.cleaned_data.get("webhook_secret"):
            instance.set_webhook_secret(self.cleaned_data["webhook_secret"])
        if commit:
            instance.save()
        return instance


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = AlertRuleForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "monitor", "metric", "trigger", "window_minutes", "is_active")
    list_filter = ("metric", "trigger", "is_active")
    list_select_related = ("monitor",)
    autocomplete_fields = ("monitor",)
    search_fields = ("name", "monitor__name")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("rule", "window_start", "value", "level", "mentions_in_window", "email_status", "webhook_status")
    list_filter = ("email_status", "webhook_status", "rule")
    list_select_related = ("rule",)
    readonly_fields = (
        "rule",
        "window_start",
        "window_end",
        "value",
        "level",
        "baseline_mean",
        "baseline_sd",
        "mentions_in_window",
        "samples",
        "email_status",
        "webhook_status",
        "webhook_attempts",
        "last_error",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Alert | None = None) -> bool:
        return False
