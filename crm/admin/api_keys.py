"""Partner API keys, for administrators: create (the key is shown once), change scopes or expiry, revoke."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from crm.api.scopes import scope_choices
from crm.models import ApiKey
from crm.services.api_keys import api_key_create, api_key_revoke, api_key_update


class ApiKeyForm(forms.ModelForm):  # type: ignore[type-arg]
    scopes = forms.MultipleChoiceField(
        choices=scope_choices, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="Read, or read and write, per resource. A resource not ticked answers 403 to this key.",
    )  # fmt: skip

    class Meta:
        model = ApiKey
        fields = ("name", "user", "scopes", "expires_at")

    def clean_user(self) -> Any:
        user = self.cleaned_data["user"]
        if user is not None and user.is_staff:
            raise forms.ValidationError("Use a partner account (not staff): the key acts as this account.")
        return user


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ApiKeyForm
    list_display = ("name", "prefix", "user", "scope_list", "expires_at", "last_used_at", "state")
    list_select_related = ("user",)
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    autocomplete_fields = ("user",)
    readonly_fields = ("prefix", "created_at", "created_by", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The account a key acts as is fixed at creation.
        return (*self.readonly_fields, "user") if obj is not None else ("prefix",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("name", "user", "scopes", "expires_at")
        return (
            "name",
            "prefix",
            "user",
            "scopes",
            "expires_at",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
        )

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            api_key_update(key=obj, name=data["name"], scopes=data["scopes"], expires_at=data["expires_at"])
            return
        key, secret = api_key_create(
            name=data["name"], user=data["user"], scopes=data["scopes"], expires_at=data["expires_at"],
            created_by=request.user,  # type: ignore[arg-type]
        )  # fmt: skip
        obj.pk, obj.prefix = key.pk, key.prefix
        obj._state.adding = False
        self.message_user(
            request,
            f"The new key is {secret} — copy it now: it is stored only as a hash and cannot be shown again.",
            messages.WARNING,
        )

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes or []) or "—"

    @admin.display(description="State")
    def state(self, obj: ApiKey) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        if obj.expires_at is not None and obj.expires_at <= timezone.now():
            return "expired"
        return "active"

    @admin.action(description="Revoke selected keys (they stop working at once)", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(api_key_revoke(key=key) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)
