"""Holidays from an iCalendar file, through the admin page: all-day events, multi-day, yearly; bad files refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from crm.models import User
from routing.hours import is_open
from routing.models import BusinessHours, Holiday, OpeningPeriod, Team
from routing.services.hours import team_calendar

pytestmark = pytest.mark.django_db

HOLIDAYS_ICS = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Example//Holidays//EN\r
BEGIN:VEVENT\r
UID:christmas@example.com\r
DTSTAMP:20260101T000000Z\r
DTSTART;VALUE=DATE:20261225\r
DTEND;VALUE=DATE:20261227\r
SUMMARY:Christmas\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:labour@example.com\r
DTSTAMP:20260101T000000Z\r
DTSTART;VALUE=DATE:20260501\r
RRULE:FREQ=YEARLY;COUNT=3\r
EXDATE;VALUE=DATE:20270501\r
SUMMARY:Labour Day\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:meeting@example.com\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260310T100000Z\r
DTEND:20260310T110000Z\r
SUMMARY:Team meeting\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture
def berlin_office(db: None) -> BusinessHours:
    hours = BusinessHours.objects.create(name="Berlin office", timezone="Europe/Berlin", is_default=True)
    for day in range(5):
        OpeningPeriod.objects.create(business_hours=hours, weekday=day, start=dt.time(9), end=dt.time(17))
    return hours


def upload(client: Client, hours: BusinessHours, content: bytes, name: str = "holidays.ics") -> object:
    url = f"/admin/routing/businesshours/{hours.pk}/import-holidays/"
    return client.post(url, {"file": SimpleUploadedFile(name, content, "text/calendar")}, follow=True)


def test_import_all_day_events(maria: User, login: Callable[[User], Client], berlin_office: BusinessHours) -> None:
    Holiday.objects.create(business_hours=berlin_office, date=dt.date(2026, 12, 25), name="Weihnachten")
    client = login(maria)
    change_page = client.get(f"/admin/routing/businesshours/{berlin_office.pk}/change/").content.decode()
    assert f"/admin/routing/businesshours/{berlin_office.pk}/import-holidays/" in change_page  # the link
    response = upload(client, berlin_office, HOLIDAYS_ICS)
    text = response.content.decode()  # type: ignore[attr-defined]
    assert "3 holiday(s) imported, 1 already there. 1 event(s) with a time of day were ignored (not all-day)." in text
    assert list(Holiday.objects.values_list("date", "name")) == [
        (dt.date(2026, 5, 1), "Labour Day"),
        (dt.date(2026, 12, 25), "Weihnachten"),  # an import never renames
        (dt.date(2026, 12, 26), "Christmas"),  # DTEND is exclusive: two days
        (dt.date(2028, 5, 1), "Labour Day"),  # 2027 is an EXDATE
    ]
    # The holidays close the team's business hours (a Friday, a Saturday aside).
    calendar = team_calendar(Team.objects.create(name="Support"))
    assert not is_open(calendar, dt.datetime(2026, 5, 1, 10, tzinfo=calendar.tz))
    assert is_open(calendar, dt.datetime(2026, 5, 4, 10, tzinfo=calendar.tz))
    # Importing the same file again adds nothing.
    text = upload(client, berlin_office, HOLIDAYS_ICS).content.decode()  # type: ignore[attr-defined]
    assert "0 holiday(s) imported, 4 already there." in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Date,Name\n2026-12-25,Christmas\n", "no BEGIN:VCALENDAR line: this is not an iCalendar (.ics) file"),
        (b"\xff\xfe\x00B\x00E", "the file is not UTF-8 text"),
        (
            b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261224\n",
            "the iCalendar file could not be read",
        ),
        (
            b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261345\nSUMMARY:Bad\nEND:VEVENT\nEND:VCALENDAR\n",
            "an event (Bad) has a bad date",
        ),
        (
            b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Nothing\nEND:VEVENT\nEND:VCALENDAR\n",
            "an event (Nothing) has no DTSTART",
        ),
        (
            b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\nRRULE:FREQ=SOMETIMES\nSUMMARY:Odd\n"
            b"END:VEVENT\nEND:VCALENDAR\n",
            "the event “Odd” has a bad RRULE",
        ),
        (
            b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\nRRULE:FREQ=DAILY\nSUMMARY:Every day\n"
            b"END:VEVENT\nEND:VCALENDAR\n",
            "more than 3000 holiday dates",
        ),
    ],
)
def test_a_broken_file_is_refused_with_the_reason(
    ada: User, login: Callable[[User], Client], berlin_office: BusinessHours, content: bytes, message: str
) -> None:
    response = upload(login(ada), berlin_office, content)
    text = response.content.decode()  # type: ignore[attr-defined]
    assert "This file was not imported:" in text and message in text
    assert not Holiday.objects.exists()


def test_only_staff_who_may_change_hours_import(
    sam: User, login: Callable[[User], Client], berlin_office: BusinessHours
) -> None:
    response = upload(login(sam), berlin_office, HOLIDAYS_ICS)
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert not Holiday.objects.exists()
