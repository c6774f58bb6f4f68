from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from crm.admin.base import AuditedAdmin
from crm.admin.filters import InteractionOverdueFilter
from crm.admin.importing import export_csv, export_xlsx
from crm.models import Interaction
from crm.services.interactions import tasks_mark_done


@admin.register(Interaction)
class InteractionAdmin(AuditedAdmin):
    list_display = ("__str__", "kind", "direction", "contact", "company", "staff", "occurred_at", "due_at", "done")
    list_filter = ("kind", "direction", InteractionOverdueFilter, "done", ("staff", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("contact", "company", "staff")
    search_fields = ("subject",)
    autocomplete_fields = ("contact", "company", "staff")
    readonly_fields = ("done_at", "created_at", "updated_at")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    list_per_page = 50
    actions = ("mark_done", export_csv, export_xlsx)
    fieldsets = (
        (None, {"fields": (("kind", "direction"), ("contact", "company"), "subject", "body")}),
        ("When", {"fields": (("occurred_at", "duration"), "outcome", "staff")}),
        ("Task", {"fields": (("due_at", "done", "done_at"),)}),
        ("Partner sync", {"fields": ("external_id", "created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        from django.utils import timezone

        return {"staff": request.user.pk, "occurred_at": timezone.now(), **super().get_changeform_initial_data(request)}

    @admin.action(description="Mark selected tasks done", permissions=["change"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet[Interaction]) -> None:
        changed = tasks_mark_done(interactions=queryset)
        self.message_user(request, f"{changed} task(s) marked done.", messages.SUCCESS)
