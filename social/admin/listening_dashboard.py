"""Admin → Social → Listening dashboard: charts of mentions, sentiment, terms, authors and share of voice.

Staff who may view mentions see it (read-only roles included). Filters are a GET form (date range,
monitors); ``?export=<chart>`` answers the numbers behind one chart as CSV with the same filters. The
numbers come from ``social.listening.dashboard`` (pre-aggregated tables only); charts are inline SVG.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from social.listening import charts
from social.listening.dashboard import (
    CHARTS,
    MAX_DAYS,
    TOP_WINDOW_DAYS,
    Dashboard,
    Filters,
    dashboard_build,
    dashboard_csv,
)
from social.models import ListeningDashboard, Monitor

DEFAULT_DAYS = 30


class DashboardFilterForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    monitor = forms.ModelMultipleChoiceField(
        queryset=Monitor.objects.order_by("name", "id"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Monitors",
        help_text="None ticked: every active monitor",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "The end is before the start.")
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("start", f"Choose at most {MAX_DAYS} days.")
        return cleaned


def _defaults() -> dict[str, Any]:
    today = timezone.now().astimezone(dt.UTC).date()
    return {"start": today - dt.timedelta(days=DEFAULT_DAYS - 1), "end": today}


@admin.register(ListeningDashboard)
class ListeningDashboardAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """No list, no forms: the "changelist" is the dashboard."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("social.view_mention")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        data = {**{k: v.isoformat() for k, v in _defaults().items()}, **request.GET.dict()}
        data.pop("export", None)
        form = DashboardFilterForm({**data, "monitor": request.GET.getlist("monitor")})
        export = request.GET.get("export", "")
        if export and export not in CHARTS:
            return HttpResponse(
                f"unknown chart: choose one of {', '.join(CHARTS)}", status=400, content_type="text/plain"
            )
        if not form.is_valid():
            if export:
                return HttpResponse(_errors(form), status=400, content_type="text/plain")
            return self._render(request, form, None, status=400)
        chosen = tuple(form.cleaned_data["monitor"]) or tuple(
            Monitor.objects.filter(is_active=True).order_by("name", "id")
        )
        board = dashboard_build(
            filters=Filters(start=form.cleaned_data["start"], end=form.cleaned_data["end"], monitors=chosen)
        )
        if export:
            response = HttpResponse(dashboard_csv(board, export), content_type="text/csv; charset=utf-8")
            name = f"listening-{export}-{board.filters.start:%Y%m%d}-{board.filters.end:%Y%m%d}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        return self._render(request, form, board)

    def _render(
        self, request: HttpRequest, form: DashboardFilterForm, board: Dashboard | None, status: int = 200
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Listening dashboard",
            "opts": self.model._meta,
            "form": form,
            "board": board,
            "top_window_days": TOP_WINDOW_DAYS,
        }
        if board is not None:
            query = request.GET.copy()
            query.pop("export", None)
            context["export_query"] = query.urlencode()
            context.update(_charts(board))
        return TemplateResponse(request, "admin/social/listening_dashboard.html", context, status=status)


def _errors(form: forms.Form) -> str:
    return "; ".join(f"{field}: {' '.join(str(e) for e in errors)}" for field, errors in form.errors.items())


def _charts(board: Dashboard) -> dict[str, Any]:
    legend = [
        (charts.colour(n), monitor.name, f"{sum(values):,}") for n, (monitor, values) in enumerate(board.volume.items())
    ]
    return {
        "legend": legend,
        "volume_svg": charts.line_chart(
            board.days,
            [(monitor.name, values) for monitor, values in board.volume.items()],
            label="Mentions per day and monitor",
        ),
        "sentiment_svg": charts.share_chart(
            board.days,
            [(row.positive, row.neutral, row.negative) for row in board.sentiment],
            label="Sentiment share per day",
        ),
        "sov_svg": charts.bar_list(
            [
                (f"{item.label} ({item.kind})", item.mentions, f"{item.share:.1%} · {item.mentions:,}")
                for item in board.share_of_voice
            ],
            label="Share of voice",
        ),
        "terms_svg": charts.bar_list(
            [(item.label, item.mentions, f"{item.mentions:,}") for item in board.top_terms], label="Top terms"
        ),
        "authors_svg": charts.bar_list(
            [(item.label, item.mentions, f"{item.mentions:,}") for item in board.top_authors], label="Top authors"
        ),
        "sentiment_totals": _sentiment_totals(board),
    }


def _sentiment_totals(board: Dashboard) -> dict[str, Any]:
    totals = [
        sum(getattr(row, name) for row in board.sentiment) for name in ("mentions", "positive", "neutral", "negative")
    ]
    mentions = totals[0]
    return {
        "mentions": mentions,
        "rows": [
            (name, f"{count:,}", f"{count / mentions if mentions else 0.0:.1%}")
            for name, count in zip(("positive", "neutral", "negative"), totals[1:], strict=True)
        ],
    }
