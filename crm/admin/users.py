from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from crm.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):  # type: ignore[type-arg]
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_active", "groups")
    search_fields = ("username", "first_name", "last_name", "email")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Agents may not browse users, but must still pick an owner or a staff member on records they edit.

        Django's autocomplete asks the *picked* model's admin; it is allowed here for staff who may add or
        change the record the picker belongs to (the source field's ``limit_choices_to`` keeps it to staff).
        """
        if super().has_view_permission(request, obj):
            return True
        match = request.resolver_match
        if obj is not None or match is None or match.url_name != "autocomplete":
            return False
        app_label, model_name = request.GET.get("app_label", ""), request.GET.get("model_name", "")
        return any(request.user.has_perm(f"{app_label}.{action}_{model_name}") for action in ("add", "change"))
