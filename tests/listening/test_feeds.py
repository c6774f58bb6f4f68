"""RSS/Atom feeds, served by a real HTTP server on loopback: polled by the minute sweep with conditional GET,
de-duplicated, and every fault recorded on the feed (status and error) instead of crashing or duplicating."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from django_q.models import Schedule

from social.models import Feed, Mention
from tests.listening.conftest import FeedServer, rss

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title><id>urn:blog</id><updated>2026-11-28T10:00:00Z</updated>
<entry><id>urn:post:1</id><title>Acme &amp; the city</title><link href="https://blog.example.org/1"/>
<updated>2026-11-28T09:30:00Z</updated><author><name>Jane</name></author>
<summary type="html">&lt;p&gt;We &lt;b&gt;love&lt;/b&gt; the new Acme bike&lt;/p&gt;</summary></entry>
</feed>"""


@pytest.fixture
def make_feed(db: None) -> Any:
    def _make(url: str, **fields: Any) -> Feed:
        return Feed.objects.create(name="Feed", url=url, **fields)

    return _make


def poll(tasks: Any, feed: Feed) -> str:
    from social.listening.tasks import poll_feed

    result = poll_feed(feed.pk)
    feed.refresh_from_db()
    return result


def test_schedule_sweeps_due_feeds_into_one_task_each(tasks: Any, make_feed: Any, feed_server: FeedServer) -> None:
    schedule = Schedule.objects.get(name="social: poll due listening feeds")
    assert schedule.func == "social.listening.tasks.poll_due_feeds" and schedule.minutes == 1
    due = make_feed(feed_server.serve("/a.xml", rss(("1", "Acme", "nice"))))
    later = make_feed(feed_server.serve("/b.xml", rss()), next_poll_at=timezone.now() + dt.timedelta(hours=1))
    make_feed(feed_server.serve("/c.xml", rss()), is_active=False)
    from social.listening.tasks import poll_due_feeds

    assert poll_due_feeds() == 1
    assert tasks.queued == []  # nothing before commit
    assert poll_due_feeds() == 0  # claimed: the next minute's sweep does not queue it again
    tasks.commit()
    assert tasks.queued == [("social.listening.tasks.poll_feed", (due.pk,))]
    tasks.run()
    due.refresh_from_db()
    assert due.status == Feed.Status.OK and Mention.objects.get().feed == due
    assert due.next_poll_at > timezone.now() + dt.timedelta(minutes=14)
    assert later.mentions.count() == 0 and feed_server.hits("/b.xml") == []


def test_rss_entries_become_mentions_and_repeats_add_nothing(
    tasks: Any, make_feed: Any, feed_server: FeedServer, make_monitor: Any
) -> None:
    monitor = make_monitor("Acme", "acme")
    url = feed_server.serve(
        "/rss.xml", rss(("g1", "Acme review", "Great &lt;b&gt;bike&lt;/b&gt;"), ("g2", "Other", "x"))
    )
    feed = make_feed(url)
    assert poll(tasks, feed) == "created 2, duplicate 0, blocked 0"
    first = Mention.objects.get(external_id="g1")
    assert first.text == "Acme review\n\nGreat bike"
    assert first.url == "https://reviews.example.com/g1" and first.author_name == "critic@example.com (Critic)"
    assert first.posted_at == dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
    assert list(first.monitors.all()) == [monitor]
    # The feed repeats the old items and adds one.
    feed_server.serve(
        "/rss.xml", rss(("g3", "New", "acme again"), ("g1", "Acme review", "Great"), ("g2", "Other", "x"))
    )
    assert poll(tasks, feed) == "created 1, duplicate 2, blocked 0"
    assert Mention.objects.count() == 3


def test_atom_feed(tasks: Any, make_feed: Any, feed_server: FeedServer) -> None:
    feed = make_feed(feed_server.serve("/atom.xml", ATOM, content_type="application/atom+xml"))
    poll(tasks, feed)
    mention = Mention.objects.get()
    assert mention.external_id == "urn:post:1" and mention.text == "Acme & the city\n\nWe love the new Acme bike"
    assert mention.author_name == "Jane" and mention.site == "blog.example.org"
    assert mention.sentiment_label == "positive"


def test_conditional_get_304_stores_nothing(tasks: Any, make_feed: Any, feed_server: FeedServer) -> None:
    url = feed_server.serve(
        "/cond.xml", rss(("1", "acme", "a")), etag='"v1"', last_modified="Sat, 28 Nov 2026 10:00:00 GMT"
    )
    feed = make_feed(url)
    poll(tasks, feed)
    assert feed.etag == '"v1"' and feed.last_modified == "Sat, 28 Nov 2026 10:00:00 GMT"
    Mention.objects.all().delete()  # would come back if the body were read again
    assert poll(tasks, feed) == "not modified"
    second = feed_server.hits("/cond.xml")[1]
    assert second["if-none-match"] == '"v1"' and second["if-modified-since"] == "Sat, 28 Nov 2026 10:00:00 GMT"
    assert Mention.objects.count() == 0 and feed.status == Feed.Status.OK and feed.etag == '"v1"'


@pytest.mark.parametrize(
    ("body", "status", "content_type", "error"),
    [
        (b"\x00\x01\x02 binary junk", 200, "application/rss+xml", "not an RSS or Atom feed"),
        (b"<html><body>Moved to our new site</body></html>", 200, "text/html", "not an RSS or Atom feed"),
        (b"", 200, "application/rss+xml", "not an RSS or Atom feed"),
        (b"oops", 500, "text/plain", "the server answered HTTP 500"),
        (b"gone", 404, "text/plain", "the server answered HTTP 404"),
    ],
)
def test_broken_feed_is_recorded_not_raised(
    tasks: Any, make_feed: Any, feed_server: FeedServer, body: bytes, status: int, content_type: str, error: str
) -> None:
    feed = make_feed(feed_server.serve("/broken.xml", body, status=status, content_type=content_type))
    assert poll(tasks, feed).startswith("error")
    assert feed.status == Feed.Status.ERROR and feed.last_error.startswith(error)
    assert feed.consecutive_failures == 1 and Mention.objects.count() == 0
    poll(tasks, feed)
    assert feed.consecutive_failures == 2
    # Backing off: the interval doubles with each consecutive failure.
    assert feed.next_poll_at > timezone.now() + dt.timedelta(minutes=59)
    # Fixed: the next poll clears the error.
    feed_server.serve("/broken.xml", rss(("1", "acme", "back")))
    poll(tasks, feed)
    assert feed.status == Feed.Status.OK and feed.last_error == "" and feed.consecutive_failures == 0
    assert Mention.objects.count() == 1


def test_truncated_xml_is_read_as_far_as_it_goes_with_a_warning(
    tasks: Any, make_feed: Any, feed_server: FeedServer
) -> None:
    feed = make_feed(feed_server.serve("/cut.xml", rss(("1", "acme", "complete"))[:-40] + "<item><title>acme"))
    poll(tasks, feed)
    assert feed.status == Feed.Status.WARNING and "read with problems" in feed.last_error
    assert Mention.objects.filter(external_id="1").exists()
    poll(tasks, feed)  # and read again: nothing new
    assert Mention.objects.filter(external_id="1").count() == 1


def test_unreachable_feed(tasks: Any, make_feed: Any, closed_port_url: str) -> None:
    feed = make_feed(closed_port_url)
    poll(tasks, feed)
    assert feed.status == Feed.Status.ERROR and feed.last_error.startswith("unreachable: ConnectionRefusedError")


def test_feed_in_an_unexpected_encoding(tasks: Any, make_feed: Any, feed_server: FeedServer) -> None:
    # Declared UTF-8, actually Latin-1: read with a warning, the text kept as well as it can be.
    body = rss(("1", "Café Acme", "très bien")).encode("latin-1")
    feed = make_feed(feed_server.serve("/latin.xml", body, content_type="application/rss+xml; charset=utf-8"))
    poll(tasks, feed)
    assert feed.status == Feed.Status.WARNING and feed.last_error.startswith("read with problems")
    assert "Caf" in Mention.objects.get().text
    # Declared correctly in the XML and the header: clean.
    latin = rss(("2", "Café Acme", "très bien")).replace('encoding="utf-8"', 'encoding="iso-8859-1"')
    feed_server.serve("/latin.xml", latin.encode("latin-1"), content_type="application/rss+xml; charset=iso-8859-1")
    poll(tasks, feed)
    assert feed.status == Feed.Status.OK
    assert Mention.objects.get(external_id="2").text == "Café Acme\n\ntrès bien"


def test_entries_without_guid_use_link_then_a_hash(tasks: Any, make_feed: Any, feed_server: FeedServer) -> None:
    doc = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>with link</title><link>https://x.example.com/p</link></item>"
        "<item><title>bare</title><description>no id, no link</description></item>"
        "</channel></rss>"
    )
    feed = make_feed(feed_server.serve("/noguid.xml", doc))
    poll(tasks, feed)
    poll(tasks, feed)
    ids = sorted(Mention.objects.values_list("external_id", flat=True))
    assert len(ids) == 2 and ids[0] == "https://x.example.com/p" and ids[1].startswith("sha256:")


def test_staff_poll_now_and_see_status(
    tasks: Any, ada: Any, login: Any, make_feed: Any, feed_server: FeedServer
) -> None:
    feed = make_feed(feed_server.serve("/bad.xml", b"not xml at all", content_type="text/plain"))
    client = login(ada)
    page = client.post(
        "/admin/social/feed/", {"action": "poll_now", "_selected_action": [str(feed.pk)], "index": "0"}, follow=True
    )
    assert "1 feed(s) queued for polling." in page.content.decode()
    tasks.run()
    page = client.get("/admin/social/feed/").content.decode()
    assert "Error" in page and "not an RSS or Atom feed" in page
