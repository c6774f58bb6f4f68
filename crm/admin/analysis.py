"""Customer analysis on the contact list: RFM segment and purchase figures as columns, filters and sorting."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django_q.tasks import async_task

from crm.models import Contact, ContactAnalysis

RECENCY_CHOICES = [
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("365", "Last year"),
    ("older", "More than a year ago"),
    ("never", "Never"),
]


class RfmSegmentFilter(admin.SimpleListFilter):
    title = "RFM segment"
    parameter_name = "rfm"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*ContactAnalysis.Segment.choices, ("none", "No purchases")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        value = self.value()
        if value == "none":
            return queryset.filter(Q(analysis__isnull=True) | Q(analysis__segment=""))
        if value in ContactAnalysis.Segment.values:
            return queryset.filter(analysis__segment=value)
        return queryset


class _RecencyFilter(admin.SimpleListFilter):
    field = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return RECENCY_CHOICES

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        value, lookup = self.value(), f"analysis__{self.field}"
        if value == "never":
            return queryset.filter(**{f"{lookup}__isnull": True})
        if value == "older":
            return queryset.filter(**{f"{lookup}__lt": timezone.now() - dt.timedelta(days=365)})
        if value in {"30", "90", "365"}:
            return queryset.filter(**{f"{lookup}__gte": timezone.now() - dt.timedelta(days=int(value))})
        return queryset


class LastPurchaseFilter(_RecencyFilter):
    title = "last purchase"
    parameter_name = "purchased"
    field = "last_purchase_at"


class LastInteractionFilter(_RecencyFilter):
    title = "last interaction"
    parameter_name = "interacted"
    field = "last_interaction_at"


class SpendFilter(admin.SimpleListFilter):
    title = "total spend"
    parameter_name = "spend"
    BANDS = {"0": (None, 0), "1-100": (0, 100), "100-1000": (100, 1000), "1000+": (1000, None)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("0", "Nothing yet"), ("1-100", "Up to 100"), ("100-1000", "100 – 1,000"), ("1000+", "Over 1,000")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        band = self.BANDS.get(self.value() or "")
        if band is None:
            return queryset
        low, high = band
        if low is None:
            return queryset.filter(Q(analysis__isnull=True) | Q(analysis__total_spend=0))
        queryset = queryset.filter(analysis__total_spend__gt=low)
        return queryset.filter(analysis__total_spend__lte=high) if high is not None else queryset


class AnalysisColumnsMixin:
    """Columns read from the one-to-one analysis row (joined by ``list_select_related``), sortable."""

    @admin.display(description="RFM", ordering="analysis__segment")
    def rfm_segment(self, obj: Contact) -> str:
        analysis = getattr(obj, "analysis", None)
        return analysis.get_segment_display() if analysis and analysis.segment else "—"

    @admin.display(description="Spend", ordering="analysis__total_spend")
    def total_spend(self, obj: Contact) -> Any:
        analysis = getattr(obj, "analysis", None)
        return analysis.total_spend if analysis else "—"

    @admin.display(description="Last purchase", ordering="analysis__last_purchase_at")
    def last_purchase(self, obj: Contact) -> Any:
        analysis = getattr(obj, "analysis", None)
        return analysis.last_purchase_at.date() if analysis and analysis.last_purchase_at else "—"

    @admin.display(description="Last interaction", ordering="analysis__last_interaction_at")
    def last_interaction(self, obj: Contact) -> Any:
        analysis = getattr(obj, "analysis", None)
        return analysis.last_interaction_at.date() if analysis and analysis.last_interaction_at else "—"

    @admin.action(description="Recompute customer analysis (all contacts, in the background)", permissions=["change"])
    def recompute_analysis(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        transaction.on_commit(lambda: async_task("crm.tasks.recompute_analysis", task_name="crm: analysis on demand"))
        self.message_user(  # type: ignore[attr-defined]
            request, "Customer analysis is being recomputed in the background; refresh in a minute.", messages.INFO
        )
