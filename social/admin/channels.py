"""Channel admin: add with kind and name, then enter the provider's settings on the change page.

The settings form is built from the connector's ``fields``: secrets are write-only (a blank field keeps
the stored value) and shown masked (``••••1234``). The change page shows the webhook URL and the
provider's setup steps (template ``admin/social/channel/change_form.html``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from social.connectors import CONNECTORS, connector_for
from social.connectors.base import SendError
from social.crypto import CredentialsUnreadable, mask
from social.models import Channel
from social.services.channels import (
    channel_create,
    channel_register_webhook,
    channel_update_settings,
    channel_webhook_url,
)

BASE_FIELDS = ("name", "kind", "is_active", "team")


class ChannelAddForm(forms.ModelForm):  # type: ignore[type-arg]
    kind = forms.ChoiceField(choices=[(k, Channel.Kind(k).label) for k in CONNECTORS])

    class Meta:
        model = Channel
        fields = BASE_FIELDS


def settings_form(channel: Channel) -> type[forms.ModelForm]:  # type: ignore[type-arg]
    """A change form with one field per connector setting for ``channel``'s kind."""
    connector = connector_for(channel.kind)
    try:
        stored = channel.credentials
    except CredentialsUnreadable:
        stored = {}
    declared: dict[str, forms.Field] = {}
    for field in connector.fields if connector else ():
        if field.secret:
            current = stored.get(field.name, "")
            hint = f"Stored: {mask(current)}. Leave blank to keep it." if current else "Not set yet."
            declared[field.name] = forms.CharField(
                label=field.label,
                required=False,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text=f"{field.help_text} {hint}".strip(),
            )
        else:
            declared[field.name] = forms.CharField(
                label=field.label,
                required=field.required,
                initial=channel.config.get(field.name, field.initial),
                help_text=field.help_text,
            )
    required_secrets = [f.name for f in (connector.fields if connector else ()) if f.secret and f.required]

    def clean(self: forms.ModelForm) -> dict[str, Any]:  # type: ignore[type-arg]
        data: dict[str, Any] = forms.ModelForm.clean(self) or {}
        for name in required_secrets:
            if not data.get(name) and not stored.get(name):
                self.add_error(name, "Enter this secret.")
        return data

    meta = type("Meta", (), {"model": Channel, "fields": ("name", "is_active", "team")})
    return type("ChannelSettingsForm", (forms.ModelForm,), {**declared, "Meta": meta, "clean": clean})


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "kind", "is_active", "team", "credentials_summary", "updated_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    change_form_template = "admin/social/channel/change_form.html"
    actions = ["register_webhook"]

    def get_fieldsets(self, request: HttpRequest, obj: Channel | None = None) -> Any:
        if obj is None:
            return [(None, {"fields": BASE_FIELDS})]
        connector = connector_for(obj.kind)
        names = [f.name for f in connector.fields] if connector else []
        return [(None, {"fields": BASE_FIELDS}), ("Provider settings", {"fields": names})]

    def get_readonly_fields(self, request: HttpRequest, obj: Channel | None = None) -> Any:
        return ("kind",) if obj is not None else ()

    def get_form(self, request: HttpRequest, obj: Channel | None = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = settings_form(obj) if obj is not None else ChannelAddForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Channel, form: forms.ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        if not change:
            created = channel_create(kind=obj.kind, name=obj.name, team=obj.team, is_active=obj.is_active)
            obj.pk, obj.webhook_key = created.pk, created.webhook_key
            obj.config, obj.credentials_encrypted = created.config, created.credentials_encrypted
            return
        obj.save(update_fields=["name", "is_active", "team", "updated_at"])
        connector = connector_for(obj.kind)
        values = {f.name: str(form.cleaned_data.get(f.name) or "") for f in (connector.fields if connector else ())}
        updated = channel_update_settings(channel=obj, values=values)
        obj.config, obj.credentials_encrypted = updated.config, updated.credentials_encrypted

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        channel = Channel.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        context = dict(extra_context or {})
        connector = connector_for(channel.kind) if channel else None
        if channel is not None and connector is not None:
            url = channel_webhook_url(channel=channel, base_url=request.build_absolute_uri("/"))
            context["webhook_url"] = url
            context["receives_webhooks"] = connector.receives_webhooks
            context["setup_steps"] = connector.setup_steps(channel, url)
        return super().change_view(request, object_id, form_url, context)

    def response_add(self, request: HttpRequest, obj: Channel, post_url_continue: str | None = None) -> HttpResponse:
        # Straight to the change page: that is where the provider's settings and setup steps are.
        from django.http import HttpResponseRedirect
        from django.urls import reverse

        self.message_user(request, f"Channel “{obj.name}” created: now enter its provider settings.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:social_channel_change", args=[obj.pk]))

    @admin.display(description="credentials")
    def credentials_summary(self, obj: Channel) -> str:
        try:
            stored = obj.credentials
        except CredentialsUnreadable:
            return "unreadable (key changed?)"
        return ", ".join(f"{name} {mask(value)}" for name, value in sorted(stored.items())) or "—"

    @admin.action(description="Register the webhook with the provider (Telegram)", permissions=["change"])
    def register_webhook(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset:
            try:
                done = channel_register_webhook(channel=channel, base_url=request.build_absolute_uri("/"))
            except SendError as exc:
                self.message_user(request, f"{channel.name}: the provider refused: {exc.reason}", messages.ERROR)
                continue
            if done:
                self.message_user(request, f"{channel.name}: webhook registered.", messages.SUCCESS)
            else:
                self.message_user(
                    request,
                    f"{channel.name}: set the webhook in the provider's console (see setup steps).",
                    messages.INFO,
                )
