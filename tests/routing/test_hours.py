"""routing.hours: open or not, next opening, business minutes — across days, DST, holidays and weekends."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.hours import (
    NeverOpen,
    add_business_minutes,
    business_minutes_between,
    calendar_from_parts,
    is_open,
    next_closing,
    next_opening,
    period_problems,
)

BERLIN = ZoneInfo("Europe/Berlin")
T = dt.time


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)


def office(**kwargs: object) -> object:
    """Mon–Fri 09:00–12:00 and 13:00–17:00 (a lunch break), Saturday 10:00–14:00, Berlin."""
    periods = [(d, T(9), T(12)) for d in range(5)] + [(d, T(13), T(17)) for d in range(5)] + [(5, T(10), T(14))]
    return calendar_from_parts(timezone="Europe/Berlin", periods=periods, **kwargs)  # type: ignore[arg-type]


ALWAYS = calendar_from_parts(timezone="Europe/Berlin", periods=[(d, T(0), T(0)) for d in range(7)])
NIGHT_SHIFT = calendar_from_parts(  # Mon 22:00 – Tue 06:00, written as two periods
    timezone="Europe/Berlin", periods=[(0, T(22), T(0)), (1, T(0), T(6))]
)

# 2026: Monday 2 March; DST starts Sunday 29 March (02:00 -> 03:00), ends Sunday 25 October (03:00 -> 02:00).


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (berlin(2026, 3, 2, 8, 59), False),
        (berlin(2026, 3, 2, 9, 0), True),  # opening instant is open
        (berlin(2026, 3, 2, 11, 59, 59), True),
        (berlin(2026, 3, 2, 12, 0), False),  # closing instant is closed: [start, end)
        (berlin(2026, 3, 2, 12, 30), False),  # lunch
        (berlin(2026, 3, 2, 13, 0), True),
        (berlin(2026, 3, 7, 11, 0), True),  # Saturday morning
        (berlin(2026, 3, 7, 15, 0), False),
        (berlin(2026, 3, 8, 11, 0), False),  # Sunday
        (dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC), True),  # 09:30 in Berlin (UTC+1)
        (dt.datetime(2026, 7, 6, 7, 30, tzinfo=dt.UTC), True),  # 09:30 in Berlin (UTC+2, summer)
        (dt.datetime(2026, 7, 6, 6, 30, tzinfo=dt.UTC), False),  # 08:30 in Berlin in summer
    ],
)
def test_is_open(at: dt.datetime, expected: bool) -> None:
    assert is_open(office(), at) is expected


def test_holiday_closes_the_whole_local_day() -> None:
    cal = office(holidays=[dt.date(2026, 3, 2)])
    assert not is_open(cal, berlin(2026, 3, 2, 10, 0))
    assert is_open(cal, berlin(2026, 3, 3, 10, 0))
    assert next_opening(cal, berlin(2026, 3, 2, 10, 0)) == berlin(2026, 3, 3, 9, 0)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (berlin(2026, 3, 2, 10, 0), berlin(2026, 3, 2, 10, 0)),  # open now: now
        (berlin(2026, 3, 2, 12, 0), berlin(2026, 3, 2, 13, 0)),  # lunch
        (berlin(2026, 3, 2, 18, 0), berlin(2026, 3, 3, 9, 0)),  # evening
        (berlin(2026, 3, 6, 18, 0), berlin(2026, 3, 7, 10, 0)),  # Friday evening -> Saturday
        (berlin(2026, 3, 7, 14, 0), berlin(2026, 3, 9, 9, 0)),  # Saturday closing -> Monday
    ],
)
def test_next_opening(after: dt.datetime, expected: dt.datetime) -> None:
    assert next_opening(office(), after) == expected


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        (berlin(2026, 3, 2, 9, 0), berlin(2026, 3, 2, 17, 0), 7 * 60),  # one day minus lunch
        (berlin(2026, 3, 2, 11, 30), berlin(2026, 3, 2, 13, 30), 60),  # across lunch
        (berlin(2026, 3, 2, 16, 0), berlin(2026, 3, 3, 10, 0), 120),  # overnight
        (berlin(2026, 3, 6, 16, 0), berlin(2026, 3, 9, 10, 0), 60 + 4 * 60 + 60),  # weekend with Saturday
        (berlin(2026, 3, 2, 0, 0), berlin(2026, 3, 9, 0, 0), 5 * 7 * 60 + 4 * 60),  # a whole week
        (berlin(2026, 3, 2, 18, 0), berlin(2026, 3, 2, 20, 0), 0),  # closed all along
        (berlin(2026, 3, 2, 17, 0), berlin(2026, 3, 2, 9, 0), 0),  # end before start: 0 (documented)
        (berlin(2026, 3, 2, 10, 0), berlin(2026, 3, 2, 10, 0), 0),
        (berlin(2026, 3, 2, 9, 0, 0), berlin(2026, 3, 2, 9, 0, 30), 0.5),  # seconds count
    ],
)
def test_business_minutes_between(start: dt.datetime, end: dt.datetime, minutes: float) -> None:
    assert business_minutes_between(office(), start, end) == minutes


def test_business_minutes_skip_holidays() -> None:
    cal = office(holidays=[dt.date(2026, 3, 3)])
    assert business_minutes_between(cal, berlin(2026, 3, 2, 16, 0), berlin(2026, 3, 4, 10, 0)) == 120


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (berlin(2026, 3, 29), 23),  # spring forward: the day has 23 hours
        (berlin(2026, 10, 25), 25),  # fall back: 25 hours
        (berlin(2026, 3, 28), 24),
    ],
)
def test_dst_days_have_their_real_length(day: dt.datetime, hours: int) -> None:
    end = dt.datetime.combine(day.date() + dt.timedelta(days=1), T(0), tzinfo=BERLIN)
    assert business_minutes_between(ALWAYS, day, end) == hours * 60


def test_dst_week_of_office_hours_is_unchanged_in_wall_clock() -> None:
    """Opening 09:00–17:00 is 7 business hours a day in winter and in summer, also on the change weeks."""
    before = business_minutes_between(office(), berlin(2026, 3, 23), berlin(2026, 3, 30))
    after = business_minutes_between(office(), berlin(2026, 3, 30), berlin(2026, 4, 6))
    autumn = business_minutes_between(office(), berlin(2026, 10, 19), berlin(2026, 10, 26))
    assert before == after == autumn == 5 * 7 * 60 + 4 * 60


def test_period_through_the_spring_gap_starts_when_the_clocks_jump() -> None:
    cal = calendar_from_parts(timezone="Europe/Berlin", periods=[(6, T(2, 30), T(5))])
    opening = next_opening(cal, berlin(2026, 3, 28))
    assert opening == dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)  # 03:00 summer time: 02:30 never happens
    assert business_minutes_between(cal, berlin(2026, 3, 28), berlin(2026, 3, 30)) == 120


def test_period_through_the_autumn_fold_counts_the_repeated_hour() -> None:
    cal = calendar_from_parts(timezone="Europe/Berlin", periods=[(6, T(1, 0), T(4, 0))])
    assert business_minutes_between(cal, berlin(2026, 10, 24), berlin(2026, 10, 26)) == 4 * 60
    # 02:30 happens twice; the first one (summer time, 00:30 UTC) is inside.
    assert is_open(cal, dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC))


def test_overnight_opening_as_two_periods() -> None:
    assert is_open(NIGHT_SHIFT, berlin(2026, 3, 2, 23, 0))
    assert is_open(NIGHT_SHIFT, berlin(2026, 3, 3, 0, 0))
    assert not is_open(NIGHT_SHIFT, berlin(2026, 3, 3, 6, 0))
    assert next_closing(NIGHT_SHIFT, berlin(2026, 3, 2, 23, 0)) == berlin(2026, 3, 3, 6, 0)  # one run
    assert business_minutes_between(NIGHT_SHIFT, berlin(2026, 3, 2, 12), berlin(2026, 3, 3, 12)) == 8 * 60
    assert next_opening(NIGHT_SHIFT, berlin(2026, 3, 3, 7, 0)) == berlin(2026, 3, 9, 22, 0)


def test_next_closing() -> None:
    assert next_closing(office(), berlin(2026, 3, 2, 10, 0)) == berlin(2026, 3, 2, 12, 0)
    assert next_closing(office(), berlin(2026, 3, 2, 12, 30)) is None
    assert next_closing(ALWAYS, berlin(2026, 3, 2)) is None  # never closes


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        (berlin(2026, 3, 2, 9, 0), 60, berlin(2026, 3, 2, 10, 0)),
        (berlin(2026, 3, 2, 11, 30), 60, berlin(2026, 3, 2, 13, 30)),  # over lunch
        (berlin(2026, 3, 2, 16, 30), 60, berlin(2026, 3, 3, 9, 30)),  # over night
        (berlin(2026, 3, 6, 16, 30), 5 * 60, berlin(2026, 3, 9, 9, 30)),  # over the weekend, Saturday counts
        (berlin(2026, 3, 2, 20, 0), 0, berlin(2026, 3, 2, 20, 0)),  # nothing to add
        (berlin(2026, 3, 2, 11, 0), 60, berlin(2026, 3, 2, 12, 0)),  # lands on closing: that instant
        (berlin(2026, 3, 27, 16, 0), 120, berlin(2026, 3, 28, 11, 0)),  # DST weekend
    ],
)
def test_add_business_minutes(start: dt.datetime, minutes: int, due: dt.datetime) -> None:
    assert add_business_minutes(office(), start, minutes) == due


def test_never_open_and_bad_input() -> None:
    closed = calendar_from_parts(timezone="UTC", periods=[])
    assert next_opening(closed, berlin(2026, 3, 2)) is None
    assert not is_open(closed, berlin(2026, 3, 2))
    assert business_minutes_between(closed, berlin(2026, 3, 2), berlin(2027, 3, 2)) == 0
    with pytest.raises(NeverOpen):
        add_business_minutes(closed, berlin(2026, 3, 2), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(office(), dt.datetime(2026, 3, 2, 10))
    with pytest.raises(ValueError, match="negative"):
        add_business_minutes(office(), berlin(2026, 3, 2), -1)
    with pytest.raises(ValueError, match="not a known time zone"):
        calendar_from_parts(timezone="Mars/Olympus", periods=[])


def test_period_problems_name_the_day_and_times() -> None:
    assert period_problems([(0, T(9), T(12)), (0, T(12), T(17)), (0, T(22), T(0))]) == []
    assert period_problems([(0, T(9), T(12)), (0, T(11), T(13))]) == ["Monday: 09:00–12:00 overlaps 11:00–13:00."]
    assert "the end must be after the start" in period_problems([(2, T(18), T(6))])[0]
    assert period_problems([(7, T(9), T(10))]) == ["7 is not a weekday (0 = Monday … 6 = Sunday)."]


# --- Properties ------------------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 12, 31), timezones=st.just(dt.UTC)
)
calendars = st.sampled_from(
    [office(), office(holidays=[dt.date(2026, 3, 2), dt.date(2026, 12, 25)]), ALWAYS, NIGHT_SHIFT]
)


@settings(max_examples=150, deadline=None)
@given(cal=calendars, a=instants, b=instants, c=instants)
def test_minutes_are_additive_and_bounded(cal: object, a: dt.datetime, b: dt.datetime, c: dt.datetime) -> None:
    a, b, c = sorted([a, b, c])
    ab, bc, ac = (business_minutes_between(cal, x, y) for x, y in ((a, b), (b, c), (a, c)))  # type: ignore[arg-type]
    assert ab + bc == pytest.approx(ac, abs=1e-6)
    assert 0 <= ac <= (c - a).total_seconds() / 60 + 1e-9


@settings(max_examples=150, deadline=None)
@given(cal=calendars, start=instants, minutes=st.integers(min_value=0, max_value=60 * 24 * 20))
def test_add_then_count_gives_the_minutes_back(cal: object, start: dt.datetime, minutes: int) -> None:
    due = add_business_minutes(cal, start, minutes)  # type: ignore[arg-type]
    assert due >= start
    assert business_minutes_between(cal, start, due) == pytest.approx(minutes, abs=1e-6)  # type: ignore[arg-type]
    if minutes:
        assert is_open(cal, due - dt.timedelta(seconds=1))  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(cal=calendars, at=instants)
def test_next_opening_is_open_and_nothing_opens_before_it(cal: object, at: dt.datetime) -> None:
    opening = next_opening(cal, at)  # type: ignore[arg-type]
    assert opening is not None and opening >= at
    assert is_open(cal, opening)  # type: ignore[arg-type]
    assert business_minutes_between(cal, at, opening) == 0  # type: ignore[arg-type]
