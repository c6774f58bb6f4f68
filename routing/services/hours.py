"""Business hours from the database: compile a calendar, find a team's, import holidays from iCalendar."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dateutil.rrule import rrulestr
from django.db import transaction
from icalendar import Calendar as ICalendar
from icalendar import Component

from routing.hours import Calendar, calendar_from_parts
from routing.models import BusinessHours, Holiday, Team

ICS_MAX_BYTES = 1_000_000
# A recurring holiday ("every 25 December") is expanded this many years from its first date; a feed is
# normally re-imported every year or two, and an unbounded rule must not create rows forever.
RECURRENCE_YEARS = 10
MAX_DAYS_PER_EVENT = 366
MAX_HOLIDAYS = 3000


def _short(exc: BaseException) -> str:
    """The parser's message on one printable line, cut short (it may quote the whole file)."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(exc)).split())
    return text if len(text) <= 160 else text[:157] + "…"


def calendar_for(hours: BusinessHours) -> Calendar:
    """Compile ``hours`` (two queries) into an immutable calendar that answers without the database."""
    periods = [(p.weekday, p.start, p.end) for p in hours.periods.all()]
    holidays = [holiday.date for holiday in hours.holidays.all()]
    return calendar_from_parts(timezone=hours.timezone, periods=periods, holidays=holidays)


def team_business_hours(team: Team) -> BusinessHours | None:
    """The team's own hours, else the default ones, else ``None`` (no hours set up: treated as always open
    by callers that need an answer, see ``team_calendar``)."""
    if team.business_hours_id is not None:
        return team.business_hours
    return BusinessHours.objects.filter(is_default=True).first()


def team_calendar(team: Team) -> Calendar:
    """The compiled calendar of ``team`` (own or default hours); without any hours, open all the time —
    a product without business hours set up must not hold every conversation until an opening that never
    comes."""
    hours = team_business_hours(team)
    if hours is None:
        midnight = dt.time(0, 0)
        return calendar_from_parts(timezone="UTC", periods=[(day, midnight, midnight) for day in range(7)])
    return calendar_for(hours)


class IcsError(ValueError):
    """The uploaded file is not a usable iCalendar file; the message says why."""


@dataclass(frozen=True)
class HolidayImport:
    created: int
    already_there: int
    timed_events_ignored: int


@dataclass(frozen=True)
class IcsHolidays:
    dates: dict[dt.date, str]
    timed_events_ignored: int


def holiday_dates_from_ics(data: bytes) -> IcsHolidays:
    """All-day events of an iCalendar file as ``{date: name}``.

    1. The file must parse as iCalendar (``IcsError`` naming the problem otherwise) and hold a VCALENDAR.
    2. Each VEVENT whose DTSTART is a date (an all-day event) covers DTSTART up to but excluding DTEND
       (RFC 5545), or DTSTART + DURATION, or the single day; multi-day events are expanded day by day.
    3. A recurring event (RRULE) is expanded for ``RECURRENCE_YEARS`` years; EXDATEs are honoured.
    4. Events with a time of day are not holidays: they are counted in ``timed_events_ignored``.
    When two events fall on one date the first name is kept.
    """
    if len(data) > ICS_MAX_BYTES:
        raise IcsError(f"the file is larger than {ICS_MAX_BYTES // 1000} kB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IcsError(f"the file is not UTF-8 text (byte {exc.start})") from None
    if "BEGIN:VCALENDAR" not in text.upper():
        raise IcsError("no BEGIN:VCALENDAR line: this is not an iCalendar (.ics) file")
    try:
        parsed = ICalendar.from_ical(text)
    except Exception as exc:  # noqa: BLE001 - icalendar raises ValueError, KeyError, IndexError… on bad input
        raise IcsError(f"the iCalendar file could not be read: {_short(exc)}") from None
    dates: dict[dt.date, str] = {}
    timed = 0
    for event in parsed.walk("VEVENT"):
        days = _event_days(event)
        if days is None:
            timed += 1
            continue
        for day in days:
            dates.setdefault(day, str(event.get("SUMMARY", "")).strip()[:200])
        if len(dates) > MAX_HOLIDAYS:
            raise IcsError(f"the file gives more than {MAX_HOLIDAYS} holiday dates (a daily recurring event?)")
    return IcsHolidays(dates=dates, timed_events_ignored=timed)


def _event_days(event: Component) -> list[dt.date] | None:
    """The dates an all-day event covers; ``None`` for an event with a time of day."""
    try:
        start_prop = event.get("DTSTART")
        if start_prop is None:
            raise IcsError(f"an event ({event.get('SUMMARY', 'no summary')}) has no DTSTART")
        start = start_prop.dt
        if isinstance(start, dt.datetime) or not isinstance(start, dt.date):
            return None
        end_prop, duration_prop = event.get("DTEND"), event.get("DURATION")
        if end_prop is not None:
            length = (end_prop.dt - start).days if isinstance(end_prop.dt, dt.date) else 1
        elif duration_prop is not None:
            length = duration_prop.dt.days
        else:
            length = 1
    except IcsError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed property values
        raise IcsError(f"an event ({event.get('SUMMARY', 'no summary')}) has a bad date: {_short(exc)}") from None
    if length > MAX_DAYS_PER_EVENT:
        raise IcsError(f"the event “{event.get('SUMMARY', '')}” lasts {length} days; a holiday lasts at most a year")
    length = max(length, 1)
    firsts = [start]
    if event.get("RRULE") is not None:
        try:
            # All-day dates are "floating" (no time zone): the rule runs on naive midnights, on purpose.
            anchor = dt.datetime.combine(start, dt.time())
            rule_text = event["RRULE"].to_ical()
            rule = rrulestr(rule_text.decode() if isinstance(rule_text, bytes) else str(rule_text), dtstart=anchor)
            until = anchor + dt.timedelta(days=366 * RECURRENCE_YEARS)
            firsts = [occurrence.date() for occurrence in rule.between(anchor, until, inc=True)]
        except (ValueError, TypeError) as exc:
            raise IcsError(f"the event “{event.get('SUMMARY', '')}” has a bad RRULE: {_short(exc)}") from None
        excluded: set[dt.date] = set()
        exdates = event.get("EXDATE")
        for exdate in exdates if isinstance(exdates, list) else [exdates]:
            if exdate is not None:
                excluded.update(d.dt.date() if isinstance(d.dt, dt.datetime) else d.dt for d in exdate.dts)
        firsts = [day for day in firsts if day not in excluded]
    return [first + dt.timedelta(days=offset) for first in firsts for offset in range(length)]


def holidays_import_ics(*, hours: BusinessHours, data: bytes) -> HolidayImport:
    """Add the all-day events of an iCalendar file as holidays of ``hours``, all or nothing.

    Dates already present keep their name (an import never renames or deletes). ``IcsError`` for a file that
    cannot be read; nothing is written then.
    """
    parsed = holiday_dates_from_ics(data)
    dates = parsed.dates
    with transaction.atomic():
        existing = set(Holiday.objects.filter(business_hours=hours, date__in=dates).values_list("date", flat=True))
        Holiday.objects.bulk_create(
            [
                Holiday(business_hours=hours, date=day, name=name)
                for day, name in sorted(dates.items())
                if day not in existing
            ]
        )
        BusinessHours.objects.filter(pk=hours.pk).update(updated_at=dt.datetime.now(dt.UTC))
    return HolidayImport(
        created=len(dates) - len(existing),
        already_there=len(existing),
        timed_events_ignored=parsed.timed_events_ignored,
    )
