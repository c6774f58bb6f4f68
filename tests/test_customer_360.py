"""The contact page shows one newest-first, paginated timeline with the analysis figures beside it."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from crm.models import Interaction
from crm.services.analysis import analysis_recompute
from crm.services.purchases import LineInput, order_create
from crm.timeline import SOURCES, Cursor, TimelineEntry, register_timeline_source, timeline_page


def test_timeline_merges_sources_newest_first_and_pages_without_gaps(make_contact, backpack):
    anna = make_contact("Anna")
    base = timezone.now().replace(microsecond=0)
    for i in range(30):
        Interaction.objects.create(
            kind="note", contact=anna, subject=f"note {i}", occurred_at=base - dt.timedelta(hours=i)
        )
    for i in range(10):
        # Orders share timestamps with notes: ties must not drop or repeat entries across pages.
        order_create(
            number=f"T-{i}", contact=anna, ordered_at=base - dt.timedelta(hours=3 * i), lines=[LineInput(backpack, 1)]
        )
    other = make_contact("Ben")
    Interaction.objects.create(kind="note", contact=other, subject="not Anna's", occurred_at=base)

    seen, cursor, pages = [], None, 0
    while True:
        entries, cursor = timeline_page(anna, cursor=cursor, size=7)
        seen.extend(entries)
        pages += 1
        if cursor is None:
            break
    assert pages == 6 and len(seen) == 40
    assert len({(e.source, e.id) for e in seen}) == 40  # nothing repeated
    assert [e.at for e in seen] == sorted((e.at for e in seen), reverse=True)  # newest first
    assert "not Anna's" not in {e.title for e in seen}


def test_other_apps_contribute_entries_through_the_registry(make_contact):
    anna = make_contact("Anna")

    def messages(contact, before, limit):
        return [TimelineEntry(at=timezone.now(), source="test.message", id=1, kind="Message", title="Hi from WhatsApp")]

    register_timeline_source("test.message", messages)
    try:
        entries, _ = timeline_page(anna)
    finally:
        del SOURCES["test.message"]
    assert [e.title for e in entries] == ["Hi from WhatsApp"]


def test_contact_page_shows_timeline_and_analysis_with_customer_text_escaped(ada, login, make_contact, backpack):
    anna = make_contact("Anna")
    Interaction.objects.create(
        kind="call",
        direction="inbound",
        contact=anna,
        subject="<img src=x onerror=alert(1)>",
        occurred_at=timezone.now(),
    )
    order_create(
        number="A-77", contact=anna, ordered_at=timezone.now() - dt.timedelta(days=3), lines=[LineInput(backpack, 2)]
    )
    analysis_recompute()
    page = login(ada).get(f"/admin/crm/contact/{anna.pk}/change/").content.decode()
    assert 'id="timeline"' in page and "A-77 · 178.00 EUR" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page
    assert "Total spend" in page and "178.00" in page and "Days since last purchase" in page and "3 days" in page


def test_timeline_pages_through_the_admin(ada, login, make_contact):
    anna = make_contact("Anna")
    now = timezone.now()
    for i in range(30):
        Interaction.objects.create(
            kind="note", contact=anna, subject=f"entry-{i:02d}", occurred_at=now - dt.timedelta(minutes=i)
        )
    client = login(ada)
    first = client.get(f"/admin/crm/contact/{anna.pk}/change/")
    assert [e.title for e in first.context["timeline"]][:2] == ["entry-00", "entry-01"] and len(
        first.context["timeline"]
    ) == 25
    second = client.get(f"/admin/crm/contact/{anna.pk}/change/", {"timeline_before": first.context["timeline_cursor"]})
    assert [e.title for e in second.context["timeline"]] == [f"entry-{i}" for i in range(25, 30)]
    assert second.context["timeline_cursor"] == ""
    garbage = client.get(f"/admin/crm/contact/{anna.pk}/change/", {"timeline_before": "not-a-cursor"})
    assert garbage.status_code == 200 and len(garbage.context["timeline"]) == 25  # falls back to the newest page


def test_cursor_round_trips():
    cursor = Cursor(timezone.now(), "crm.order", 12)
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.decode("2026-01-01T00:00:00|x") is None
