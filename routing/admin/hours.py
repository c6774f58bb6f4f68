"""Business hours in the admin: periods and holidays inline, "open now", and the iCalendar holiday import.

The periods of one set are validated together (``routing.hours.period_problems``): ends after starts, no
overlaps within a weekday. The import page (``…/import-holidays/``, linked from the change page) reads an
.ics file with ``holidays_import_ics``; a file it cannot read is refused with the reason, nothing written.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from crm.admin.base import AuditedAdmin
from routing.hours import calendar_from_parts, is_open, next_opening, period_problems
from routing.models import BusinessHours, Holiday, OpeningPeriod
from routing.services.hours import ICS_MAX_BYTES, IcsError, holidays_import_ics


class PeriodFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        periods = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or form.errors:
                continue
            if data.get("weekday") is not None and data.get("start") and data.get("end"):
                periods.append((int(data["weekday"]), data["start"], data["end"]))
        problems = period_problems(periods)
        if problems:
            raise ValidationError(problems)


class OpeningPeriodInline(admin.TabularInline):  # type: ignore[type-arg]
    model = OpeningPeriod
    formset = PeriodFormSet
    extra = 1


class HolidayInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Holiday
    extra = 1


class IcsUploadForm(forms.Form):
    file = forms.FileField(label="iCalendar file (.ics)")

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size > ICS_MAX_BYTES:
            raise ValidationError(f"The file is larger than {ICS_MAX_BYTES // 1000} kB.")
        data: bytes = upload.read()
        return data


@admin.register(BusinessHours)
class BusinessHoursAdmin(AuditedAdmin):
    list_display = ("name", "timezone", "is_default", "open_now", "opens")
    list_filter = ("is_default",)
    search_fields = ("name",)
    inlines = [OpeningPeriodInline, HolidayInline]
    change_form_template = "admin/routing/businesshours/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[BusinessHours]:
        return super().get_queryset(request).prefetch_related("periods", "holidays")

    def _calendar(self, obj: BusinessHours) -> Any:
        # From the prefetched rows: no query per row of the list.
        return calendar_from_parts(
            timezone=obj.timezone,
            periods=[(p.weekday, p.start, p.end) for p in obj.periods.all()],
            holidays=[h.date for h in obj.holidays.all()],
        )

    @admin.display(description="open now", boolean=True)
    def open_now(self, obj: BusinessHours) -> bool | None:
        try:
            return is_open(self._calendar(obj), timezone.now())
        except ValueError:
            return None

    @admin.display(description="next opening")
    def opens(self, obj: BusinessHours) -> str:
        try:
            at = next_opening(self._calendar(obj), timezone.now())
        except ValueError:
            return "—"
        return f"{at.astimezone(self._calendar(obj).tz):%a %Y-%m-%d %H:%M}" if at else "never"

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<path:object_id>/import-holidays/",
                self.admin_site.admin_view(self.import_holidays_view),
                name="routing_businesshours_import_holidays",
            )
        ]
        return extra + super().get_urls()

    def import_holidays_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        hours = BusinessHours.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if hours is None:
            raise Http404("No such business hours")
        if not self.has_change_permission(request, hours):
            raise PermissionDenied
        change_url = reverse("admin:routing_businesshours_change", args=[hours.pk])
        form = IcsUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = holidays_import_ics(hours=hours, data=form.cleaned_data["file"])
            except IcsError as exc:
                form.add_error("file", f"This file was not imported: {exc}.")
            else:
                text = f"{result.created} holiday(s) imported, {result.already_there} already there."
                if result.timed_events_ignored:
                    text += f" {result.timed_events_ignored} event(s) with a time of day were ignored (not all-day)."
                self.message_user(request, text, messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import holidays into {hours.name}",
            "form": form,
            "object": hours,
            "opts": self.model._meta,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/routing/businesshours/import_holidays.html", context)
