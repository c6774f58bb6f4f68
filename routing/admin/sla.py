"""SLA policies (targets per priority, validated by ``SlaPolicy.clean``), the clocks (read-only) and the
breaches report (``…/conversationsla/report/``: breaches per team, policy and kind over a date range)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from crm.admin.base import AuditedAdmin
from routing.models import ConversationSla, SlaPolicy
from routing.models.sla import KINDS, PRIORITIES
from routing.services.sla import sla_breach_report

# One line per priority, urgent first: first response, next response, resolution side by side.
_TARGET_FIELDSETS: list[Any] = [
    (
        f"{priority.capitalize()} priority (business minutes)",
        {"fields": [tuple(f"{kind}_{priority}" for kind in KINDS)]},
    )
    for priority in reversed(PRIORITIES)
]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(AuditedAdmin):
    list_display = ("name", "is_active", "targets_normal", "targets_urgent", "warning")
    list_filter = ("is_active",)
    search_fields = ("name",)
    fieldsets = [
        (None, {"fields": ("name", "is_active")}),
        *_TARGET_FIELDSETS,
        ("Warning", {"fields": (("warning_minutes", "warning_percent"),)}),
    ]

    def _targets(self, obj: SlaPolicy, priority: int) -> str:
        return " / ".join(str(obj.target(kind, priority) or "–") for kind in KINDS)

    @admin.display(description="normal: first / next / resolution")
    def targets_normal(self, obj: SlaPolicy) -> str:
        return self._targets(obj, 1)

    @admin.display(description="urgent: first / next / resolution")
    def targets_urgent(self, obj: SlaPolicy) -> str:
        return self._targets(obj, 3)

    @admin.display(description="warning")
    def warning(self, obj: SlaPolicy) -> str:
        if obj.warning_minutes is not None:
            return f"{obj.warning_minutes} min before"
        if obj.warning_percent is not None:
            return f"at {obj.warning_percent} %"
        return "—"


class ReportForm(forms.Form):
    since = forms.DateField(label="From", help_text="First day (UTC), included.")
    until = forms.DateField(label="Until", help_text="Last day (UTC), included.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise forms.ValidationError("The last day is before the first day.")
        return data


@admin.register(ConversationSla)
class ConversationSlaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    change_list_template = "admin/routing/conversationsla/change_list.html"
    list_display = (
        "conversation", "kind", "policy", "team", "priority", "started_at", "due_at", "met_at", "breached_at",
    )  # fmt: skip
    list_filter = ("kind", "policy", "team", ("breached_at", admin.EmptyFieldListFilter), "due_at")
    list_select_related = ("conversation", "policy")
    search_fields = ("=conversation__id",)
    date_hierarchy = "due_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        custom = [path("report/", self.admin_site.admin_view(self.report_view), name="routing_sla_report")]
        return custom + super().get_urls()

    def report_view(self, request: HttpRequest) -> HttpResponse:
        """Breaches per team, policy and kind for the clocks due in a date range (default: last 30 days)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.now().date()
        form = ReportForm(request.GET or {"since": today - dt.timedelta(days=29), "until": today})
        report = None
        if form.is_valid():
            since = dt.datetime.combine(form.cleaned_data["since"], dt.time(), tzinfo=dt.UTC)
            until = dt.datetime.combine(form.cleaned_data["until"], dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
            report = sla_breach_report(since=since, until=until)
        context = {
            **self.admin_site.each_context(request),
            "title": "SLA breaches",
            "opts": self.model._meta,
            "form": form,
            "report": report,
        }
        return TemplateResponse(request, "admin/routing/conversationsla/report.html", context)
