"""The listening dashboard in the admin: charts and their CSV from the daily statistics, filters, escaping of
what the public wrote, and who may see it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest
from django.test import Client

from social.listening.services import MentionInput, mention_ingest
from social.listening.stats import stats_refresh_dirty
from social.models import Feed, Monitor

URL = "/admin/social/listeningdashboard/"
DAY1 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 11, 21, 23, 59, tzinfo=dt.UTC)
RANGE = {"start": "2026-11-19", "end": "2026-11-21"}


@pytest.fixture
def feed(db: None) -> Feed:
    return Feed.objects.create(name="Reviews", url="https://reviews.example.com/rss")


@pytest.fixture
def monitors(make_monitor: Any) -> dict[str, Monitor]:
    return {
        "acme": make_monitor("Acme", "acme"),
        "globex": make_monitor("Globex", "globex", kind="competitor"),
        "brakes": make_monitor("Brakes", "brakes", kind="topic"),
    }


def ingest(feed: Feed, external_id: str, text: str, posted_at: dt.datetime, handle: str = "", name: str = "") -> None:
    item = MentionInput.build(
        external_id=external_id, text=text, posted_at=posted_at, author_handle=handle, author_name=name
    )
    assert mention_ingest(item=item, feed=feed).status == "created"


@pytest.fixture
def fixture_mentions(feed: Feed, monitors: dict[str, Monitor]) -> None:
    ingest(feed, "1", "I love acme, wonderful bikes", DAY1, "@rider", "Rider Rita")
    ingest(feed, "2", "acme brakes broke, terrible and awful", DAY1, "@rider", "Rider Rita")
    ingest(feed, "3", "acme and globex compared on bikes", DAY2, "@critic", "<script>alert(1)</script>")
    ingest(feed, "4", "globex is great, excellent bikes", DAY2, "", '=HYPERLINK("http://evil")')
    ingest(feed, "5", "globex globex", DAY2)
    stats_refresh_dirty()


def read_csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_page_and_csv_show_the_numbers_of_the_fixture(maria: Any, login: Any, fixture_mentions: None) -> None:
    client = login(maria)
    page = client.get(URL, RANGE)
    assert page.status_code == 200
    html = page.content.decode()
    for heading in ("Mentions over time", "Sentiment share over time", "Share of voice", "Top terms", "Top authors"):
        assert heading in html
    assert "<script" not in html.split("</header>", 1)[-1].lower()  # no script anywhere in the content
    # Nothing loaded from another host (a random CSRF token may well contain the letters "cdn").
    assert re.findall(r'(?:src|href)\s*=\s*["\']((?:https?:)?//[^"\']+)', html, flags=re.IGNORECASE) == []

    volume = read_csv(client.get(URL, {**RANGE, "export": "volume"}))
    assert volume == [
        ["day", "Acme", "Brakes", "Globex"],
        ["2026-11-19", "0", "0", "0"],
        ["2026-11-20", "2", "1", "0"],
        ["2026-11-21", "1", "0", "3"],
    ]
    sentiment = read_csv(client.get(URL, {**RANGE, "export": "sentiment"}))
    assert sentiment[0][:5] == ["day", "mentions", "positive", "neutral", "negative"]
    # Day 1: acme positive + acme negative + brakes negative (the same mention counts for both monitors).
    assert sentiment[2] == ["2026-11-20", "3", "1", "0", "2", "0.3333", "0.0000", "0.6667"]
    assert sentiment[3][:5] == ["2026-11-21", "4", "1", "3", "0"]

    voice = read_csv(client.get(URL, {**RANGE, "export": "share_of_voice"}))
    assert voice == [
        ["monitor", "kind", "mentions", "share"],
        ["Acme", "Brand", "3", "0.5000"],  # a tie: by name
        ["Globex", "Competitor", "3", "0.5000"],
    ]
    terms = dict(read_csv(client.get(URL, {**RANGE, "export": "top_terms"}))[1:])
    # A mention counts once per monitor it matched: "acme" is in 1 (Acme), 2 (Acme, Brakes), 3 (Acme, Globex).
    assert terms["globex"] == "4" and terms["acme"] == "5" and terms["bikes"] == "4"
    assert "and" not in terms and "is" not in terms  # stopwords and short words left out

    authors = read_csv(client.get(URL, {**RANGE, "export": "top_authors"}))
    assert authors[1] == ["Rider Rita (@rider)", "3"]  # two mentions, one of them under two monitors
    assert ['\'=HYPERLINK("http://evil")', "1"] in authors  # a spreadsheet shows it as text
    assert ["<script>alert(1)</script> (@critic)", "2"] in authors


def test_author_names_and_terms_are_escaped_on_the_page(maria: Any, login: Any, fixture_mentions: None) -> None:
    html = login(maria).get(URL, RANGE).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_monitor_filter_and_share_of_voice(maria: Any, login: Any, fixture_mentions: None, monitors: Any) -> None:
    client = login(maria)
    only_brakes = {**RANGE, "monitor": [monitors["brakes"].pk], "export": "volume"}
    assert read_csv(client.get(URL, only_brakes))[0] == ["day", "Brakes"]
    voice = read_csv(client.get(URL, {**RANGE, "monitor": [monitors["brakes"].pk], "export": "share_of_voice"}))
    assert voice == [["monitor", "kind", "mentions", "share"]]  # a topic monitor has no share of voice
    terms = dict(read_csv(client.get(URL, {**RANGE, "monitor": [monitors["brakes"].pk], "export": "top_terms"}))[1:])
    assert terms == {"acme": "1", "brakes": "1", "broke": "1", "terrible": "1", "awful": "1"}


def test_range_outside_the_data_and_default_range(maria: Any, login: Any, fixture_mentions: None) -> None:
    client = login(maria)
    empty = read_csv(client.get(URL, {"start": "2026-10-01", "end": "2026-10-02", "export": "top_authors"}))
    assert empty == [["author", "mentions"]]
    assert client.get(URL).status_code == 200  # the last 30 days by default


def test_bad_filters_are_refused_with_a_message(maria: Any, login: Any, monitors: Any) -> None:
    client = login(maria)
    backwards = client.get(URL, {"start": "2026-11-21", "end": "2026-11-01"})
    assert backwards.status_code == 400 and "The end is before the start." in backwards.content.decode()
    assert client.get(URL, {"start": "yesterday", "end": "2026-11-01"}).status_code == 400
    too_long = client.get(URL, {"start": "2020-01-01", "end": "2026-11-01", "export": "volume"})
    assert too_long.status_code == 400 and b"at most 731 days" in too_long.content
    assert client.get(URL, {**RANGE, "monitor": "999999"}).status_code == 400
    assert client.get(URL, {**RANGE, "monitor": "x"}).status_code == 400
    assert client.get(URL, {**RANGE, "export": "everything"}).status_code == 400


def test_read_only_staff_see_it_others_do_not(rita: Any, login: Any, monitors: Any) -> None:
    assert login(rita).get(URL, RANGE).status_code == 200
    index = login(rita).get("/admin/").content.decode()
    assert "Listening dashboard" in index and URL in index
    anonymous = Client().get(URL)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    from tests.conftest import make_staff

    nobody = make_staff("norole", None)
    assert login(nobody).get(URL).status_code == 403
    assert login(nobody).get(URL, {"export": "volume"}).status_code == 403
