from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from routing.hours import WEEKDAYS, period_problems, timezone_or_error


def validate_timezone(value: str) -> None:
    try:
        timezone_or_error(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class BusinessHours(models.Model):
    """Opening periods, a time zone and holidays; a team uses its own or, without one, the default.

    Answers come from ``routing.hours`` on a compiled calendar (``routing.services.hours.calendar_for``).
    """

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="IANA time zone name, e.g. Europe/Berlin: periods and holidays are read in this zone.",
    )
    is_default = models.BooleanField(
        "default", default=False, help_text="Used by teams that have no business hours of their own (only one)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "business hours"
        verbose_name_plural = "business hours"
        ordering = ["name"]
        constraints = [
            # At most one default: "the default hours" must name one row.
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="routing_hours_one_default",
                violation_error_message="Another set of business hours is already the default; untick it there first.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.timezone})"


class OpeningPeriod(models.Model):
    """One opening on a weekday, ``[start, end)`` in wall-clock time; an end of 00:00 means midnight (24:00).

    Several per weekday (a lunch break is two periods); overlaps are refused by the admin form
    (``routing.hours.period_problems`` over all periods of the hours). Overnight opening is two periods.
    """

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    business_hours = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="periods")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField(help_text="00:00 means midnight at the end of the day.")

    class Meta:
        ordering = ["weekday", "start"]

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self) -> None:
        if self.start is not None and self.end is not None and self.weekday is not None:
            problems = period_problems([(self.weekday, self.start, self.end)])
            if problems:
                raise ValidationError({"end": problems})


class Holiday(models.Model):
    """A local date (in the hours' time zone) on which nothing opens."""

    business_hours = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_hours", "date"],
                name="routing_holiday_one_per_date",
                violation_error_message="This date is already a holiday.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}".strip()
