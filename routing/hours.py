"""Business hours arithmetic: "is it open now?", "when does it open?", "how many business minutes?".

Pure functions over a compiled, immutable ``Calendar`` (no database access once compiled: build it with
``calendar_from_parts`` in tests or ``routing.services.hours.calendar_for`` from the models, then ask it as
often as you like).

Decisions, each one chosen so that the answers match what a person reading a wall clock would say:

1. **Periods are wall-clock times on a weekday in the calendar's time zone** ("Mon 09:00–17:00 Europe/Berlin").
   Each period is ``[start, end)``: open at 09:00:00, closed at 17:00:00. An ``end`` of 00:00 means midnight at
   the end of the day (24:00), so ``00:00–00:00`` is the whole day.
2. **Overnight opening** is written as two periods, ``Mon 22:00–24:00`` and ``Tue 00:00–06:00``; they touch at
   midnight and are merged into one run, so ``next_opening`` at Mon 23:00 is "now" and the run ends Tue 06:00.
   A single period whose end is before its start is refused (``period_problems``).
3. **Holidays are local dates**: on a holiday date no period of that weekday opens (an overnight run from the
   day before still ends at midnight).
4. **Daylight saving time** is handled by converting each period of each date to UTC instants, so a period
   that contains a transition is an hour shorter or longer in real time (00:00–24:00 on the last Sunday of March
   in Berlin is 23 hours). A wall time that does not exist (02:30 on the spring-forward night) means the instant
   the clocks jump (03:00 summer time): that is the first moment the wall clock shows 02:30 or later. A wall
   time that happens twice (02:30 on the fall-back night) means its first occurrence.
5. **Instants must be timezone-aware** (``ValueError`` otherwise): a naive datetime is ambiguous in a
   multi-timezone product.
6. ``business_minutes_between(start, end)`` with ``start > end`` is **0**, not an error: an SLA clock whose end
   stamp is a little before its start (clock skew between workers) has used no business time. Minutes are
   returned as a float (exact to the microsecond: seconds / 60).
7. Search horizon: a calendar with no opening in the next ``HORIZON_DAYS`` days is treated as never open
   (``next_opening`` returns ``None``, ``add_business_minutes`` raises ``NeverOpen``), so a calendar made only of
   holidays cannot loop forever.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC
DAY_MINUTES = 24 * 60
HORIZON_DAYS = 400
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class NeverOpen(ValueError):
    """The calendar has no opening within the search horizon, so no business time can elapse."""


@dataclass(frozen=True)
class Calendar:
    """A compiled business-hours calendar.

    ``week[weekday]`` holds sorted, merged ``(start_minute, end_minute)`` pairs of local minutes of the day
    (``0 <= start < end <= 1440``); Monday is 0, as in ``date.weekday()``.
    """

    tz: ZoneInfo
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[dt.date]

    @property
    def has_periods(self) -> bool:
        return any(self.week)


def timezone_or_error(name: str) -> ZoneInfo:
    """The zone called ``name`` (an IANA name such as ``Europe/Berlin``), or ``ValueError`` naming it."""
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")):
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"“{name}” is not a known time zone (use a name such as Europe/Berlin)") from None


def _minute(value: dt.time, *, is_end: bool) -> int:
    minutes = value.hour * 60 + value.minute
    return DAY_MINUTES if is_end and minutes == 0 else minutes


def period_problems(periods: Iterable[tuple[int, dt.time, dt.time]]) -> list[str]:
    """Why a set of ``(weekday, start, end)`` periods is not valid, as messages (empty: valid).

    An end of 00:00 means midnight at the end of the day. Seconds are not supported (minutes only), ends must
    be after starts, and two periods of one weekday must not overlap (touching is fine: 09–12 and 12–17).
    """
    problems: list[str] = []
    by_day: dict[int, list[tuple[int, int]]] = {}
    for weekday, start, end in periods:
        if not 0 <= weekday <= 6:
            problems.append(f"{weekday} is not a weekday (0 = Monday … 6 = Sunday).")
            continue
        if start.second or start.microsecond or end.second or end.microsecond:
            problems.append(f"{WEEKDAYS[weekday]}: use whole minutes (no seconds).")
            continue
        s, e = _minute(start, is_end=False), _minute(end, is_end=True)
        if e <= s:
            problems.append(
                f"{WEEKDAYS[weekday]} {start:%H:%M}–{end:%H:%M}: the end must be after the start "
                "(for overnight opening add a second period from 00:00 on the next day)."
            )
            continue
        by_day.setdefault(weekday, []).append((s, e))
    for weekday, spans in sorted(by_day.items()):
        spans.sort()
        for (s1, e1), (s2, e2) in itertools.pairwise(spans):
            if s2 < e1:
                problems.append(f"{WEEKDAYS[weekday]}: {_hhmm(s1)}–{_hhmm(e1)} overlaps {_hhmm(s2)}–{_hhmm(e2)}.")
    return problems


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def calendar_from_parts(
    *, timezone: str, periods: Iterable[tuple[int, dt.time, dt.time]], holidays: Iterable[dt.date] = ()
) -> Calendar:
    """Compile periods ``(weekday, start, end)`` and holiday dates; ``ValueError`` when they are not valid."""
    tz = timezone_or_error(timezone)
    periods = list(periods)
    problems = period_problems(periods)
    if problems:
        raise ValueError(" ".join(problems))
    days: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for weekday, start, end in periods:
        days[weekday].append((_minute(start, is_end=False), _minute(end, is_end=True)))
    week = tuple(tuple(_merge(sorted(spans))) for spans in days)
    return Calendar(tz=tz, week=week, holidays=frozenset(holidays))


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _instant(tz: ZoneInfo, day: dt.date, minute: int) -> dt.datetime:
    """The UTC instant of local wall time ``day`` + ``minute`` (decision 4 for gaps and folds)."""
    naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
    before = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if before.astimezone(tz).replace(tzinfo=None) == naive:
        return before  # exists (first occurrence when it happens twice)
    # In a gap: fold=0 applies the old offset (an instant after the jump), fold=1 the new one (before the
    # jump). The jump lies between them; find it to the second by bisection on the offset.
    after = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = min(before, after), max(before, after)
    new_offset = high.astimezone(tz).utcoffset()
    while high - low > dt.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == new_offset:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _day_runs(cal: Calendar, day: dt.date) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    if day in cal.holidays:
        return
    for s, e in cal.week[day.weekday()]:
        start, end = _instant(cal.tz, day, s), _instant(cal.tz, day, e)
        if end > start:
            yield start, end


def _runs(cal: Calendar, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Open runs in UTC, in order, from the one containing ``start`` (or the next) on.

    One run per period and date, not merged across midnight (an always-open calendar would otherwise be a
    single endless run); callers that need a whole run (``next_closing``) join touching ones. The walk ends
    once ``HORIZON_DAYS`` days in a row had no opening.
    """
    day = start.astimezone(cal.tz).date() - dt.timedelta(days=1)
    quiet_days = 0
    while quiet_days <= HORIZON_DAYS + 2:
        found = False
        for run in _day_runs(cal, day):
            found = True
            if run[1] > start:
                yield run
        quiet_days = 0 if found else quiet_days + 1
        day += dt.timedelta(days=1)


def is_open(cal: Calendar, at: dt.datetime) -> bool:
    """Whether the business is open at instant ``at``."""
    at = _aware(at, "at")
    for run_start, _run_end in _runs(cal, at):
        return run_start <= at
    return False


def next_opening(cal: Calendar, after: dt.datetime) -> dt.datetime | None:
    """The first instant at or after ``after`` when the business is open: ``after`` itself when it is open
    then, else the start of the next opening (in UTC). ``None`` when it never opens (decision 7)."""
    after = _aware(after, "after")
    for run_start, _run_end in _runs(cal, after):
        return max(run_start, after)
    return None


def next_closing(cal: Calendar, after: dt.datetime) -> dt.datetime | None:
    """When the opening that ``after`` is in ends, runs touching across midnight joined (``None`` when closed
    at ``after``, or when it stays open for longer than the search horizon)."""
    after = _aware(after, "after")
    end: dt.datetime | None = None
    limit = after + dt.timedelta(days=HORIZON_DAYS)
    for run_start, run_end in _runs(cal, after):
        if end is None and run_start > after:
            return None
        if end is not None and run_start > end:
            break
        end = run_end
        if end > limit:
            return None  # open without a break for longer than the horizon: treated as always open
    return end


def business_time_between(cal: Calendar, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """Open time inside ``[start, end)``; zero when ``end`` is not after ``start`` (decision 6)."""
    start, end = _aware(start, "start"), _aware(end, "end")
    total = dt.timedelta()
    if end <= start:
        return total
    for run_start, run_end in _runs(cal, start):
        if run_start >= end:
            break
        total += min(run_end, end) - max(run_start, start)
    return total


def business_minutes_between(cal: Calendar, start: dt.datetime, end: dt.datetime) -> float:
    """Open minutes inside ``[start, end)`` (float, see decision 6); 0 when ``end`` is not after ``start``."""
    return business_time_between(cal, start, end).total_seconds() / 60


def add_business_minutes(cal: Calendar, start: dt.datetime, minutes: float) -> dt.datetime:
    """The earliest instant by which ``minutes`` business minutes have passed since ``start`` (an SLA due time).

    ``minutes == 0`` gives ``start``; a due time landing exactly on a closing time is that closing time (not
    the next opening). Negative minutes are a ``ValueError``; a calendar that never opens raises ``NeverOpen``.
    """
    start = _aware(start, "start")
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    remaining = dt.timedelta(minutes=minutes)
    if not remaining:
        return start
    for run_start, run_end in _runs(cal, start):
        begin = max(run_start, start)
        available = run_end - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise NeverOpen(f"the business hours have no opening in the next {HORIZON_DAYS} days")
