"""Mentions: stored once per source, classified (monitors, language, sentiment), linked to known contacts;
staff correct, tag, mark irrelevant and block authors or sites from the admin."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from social.listening.classify import current_classifier
from social.listening.services import MentionInput, mention_ingest
from social.models import BlockedAuthor, BlockedSite, Channel, Feed, Identity, Mention, PartnerSource


@pytest.fixture
def feed(db: None) -> Feed:
    return Feed.objects.create(name="Reviews", url="https://reviews.example.com/rss")


def ingest(feed: Feed, external_id: str, text: str, **values: Any) -> Any:
    return mention_ingest(item=MentionInput.build(external_id=external_id, text=text, **values), feed=feed)


def test_mention_is_classified_and_stored(feed: Feed, make_monitor: Any) -> None:
    brand = make_monitor("Acme", '(acme OR "acme bikes") -jobs')
    rival = make_monitor("Globex", "globex", kind="competitor")
    topic = make_monitor("Brakes", "brakes OR braking", kind="topic")
    outcome = ingest(
        feed,
        "e1",
        "I absolutely love my new Acme bike, the brakes are great! Way better than Globex.",
        author_handle="@rider",
        author_name="Rider Rita",
        url="https://www.reviews.example.com/e1",
        reach={"followers": 1200, "likes": 4, "bogus": 9, "shares": -1},
    )
    assert outcome.status == "created"
    mention = Mention.objects.get()
    assert set(mention.monitors.all()) == {brand, rival, topic}
    assert mention.language == "en"
    assert mention.sentiment_label == "positive" and mention.sentiment_score > 0.05
    assert mention.source_kind == "feed" and mention.feed == feed and mention.site == "reviews.example.com"
    assert mention.reach == {"followers": 1200, "likes": 4}

    ingest(feed, "e2", "Acme jobs: we are hiring")  # excluded by -jobs
    ingest(feed, "e3", "This product is terrible, broken and useless. I hate it.")
    assert not Mention.objects.get(external_id="e2").monitors.exists()
    negative = Mention.objects.get(external_id="e3")
    assert negative.sentiment_label == "negative"
    assert Mention.objects.get(external_id="e2").sentiment_label == "neutral"


def test_same_mention_twice_is_stored_once_per_source(feed: Feed, partner: PartnerSource) -> None:
    assert ingest(feed, "e1", "hello acme").status == "created"
    again = ingest(feed, "e1", "hello acme, edited")
    assert again.status == "duplicate" and again.mention.text == "hello acme"
    other = mention_ingest(item=MentionInput.build(external_id="e1", text="hello acme"), partner=partner)
    assert other.status == "created"
    assert Mention.objects.count() == 2


def test_language_and_source_filters(feed: Feed, partner: PartnerSource, make_monitor: Any) -> None:
    german = make_monitor("Acme DE", "acme", languages=["de"])
    partners_only = make_monitor("Acme partners", "acme", source_kinds=["partner"])
    ingest(feed, "de", "Ich finde das neue Fahrrad von Acme wirklich sehr gut und schnell")
    ingest(feed, "en", "I think the new bicycle from Acme is really very good and fast")
    mention_ingest(item=MentionInput.build(external_id="p", text="acme rocks today"), partner=partner)
    assert list(Mention.objects.get(external_id="de").monitors.all()) == [german]
    assert not Mention.objects.get(external_id="en").monitors.exists()
    assert list(Mention.objects.get(external_id="p").monitors.all()) == [partners_only]


def test_partner_language_is_trusted_when_valid(feed: Feed) -> None:
    ingest(feed, "a", "Bonjour, ceci est un texte", language="FR")
    ingest(feed, "b", "This is clearly an English sentence about bikes", language="english")
    assert Mention.objects.get(external_id="a").language == "fr"
    assert Mention.objects.get(external_id="b").language == "en"


def test_classifier_is_compiled_once_and_rebuilt_on_change(feed: Feed, make_monitor: Any) -> None:
    make_monitor("Acme", "acme")
    first = current_classifier()
    assert current_classifier() is first  # nothing changed: the compiled classifier is reused
    doomed = make_monitor("Globex", "globex")
    assert current_classifier() is not first
    doomed.delete()
    ingest(feed, "1", "globex bikes")  # deleting a monitor is seen too
    assert not Mention.objects.get(external_id="1").monitors.exists()


def test_edited_monitor_applies_to_later_mentions(feed: Feed, make_monitor: Any) -> None:
    monitor = make_monitor("Acme", "acme")
    ingest(feed, "1", "acme bikes")
    monitor.query = "bikes -acme"
    monitor.save()
    ingest(feed, "2", "acme bikes")
    ingest(feed, "3", "globex bikes")
    assert [m.external_id for m in monitor.mentions.order_by("external_id")] == ["1", "3"]
    monitor.is_active = False
    monitor.save()
    ingest(feed, "4", "globex bikes")
    assert not Mention.objects.get(external_id="4").monitors.exists()


def test_known_author_is_linked_to_the_contact(feed: Feed, make_contact: Any) -> None:
    channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Bot")
    anna = make_contact("Anna", "Berg")
    Identity.objects.create(channel=channel, external_id="42", contact=anna, handle="AnnaB")
    ingest(feed, "1", "acme is nice", author_handle="@annab")
    ingest(feed, "2", "acme is nice", author_handle="stranger")
    assert Mention.objects.get(external_id="1").contact == anna
    assert Mention.objects.get(external_id="2").contact is None
    # A handle two contacts share says nothing about who wrote it.
    Identity.objects.create(channel=channel, external_id="43", contact=make_contact("Other", "Anna"), handle="annab")
    ingest(feed, "3", "acme again", author_handle="annab")
    assert Mention.objects.get(external_id="3").contact is None


def test_text_the_database_would_refuse_is_cleaned(feed: Feed) -> None:
    assert ingest(feed, "1", "bad \x00 byte and a lone \ud83d surrogate").status == "created"
    assert Mention.objects.get().text == "bad  byte and a lone \ufffd surrogate"


# --- Staff actions in the admin ------------------------------------------------------------------------------


def _action(client: Any, action: str, mentions: list[Mention], **extra: str) -> Any:
    data = {"action": action, "_selected_action": [str(m.pk) for m in mentions], "index": "0", **extra}
    return client.post("/admin/social/mention/", data, follow=True)


def test_staff_correct_sentiment_tag_and_mark_irrelevant(feed: Feed, maria: Any, login: Any) -> None:
    ingest(feed, "1", "I hate waiting, but the acme support fixed it")
    ingest(feed, "2", "acme is ok")
    first, second = Mention.objects.order_by("external_id")
    client = login(maria)
    page = _action(client, "correct_sentiment", [first], sentiment="positive")
    assert "1 mention(s) marked Positive." in page.content.decode()
    first.refresh_from_db()
    assert first.sentiment_label == "positive" and first.sentiment_corrected

    page = _action(client, "correct_sentiment", [first])
    assert "Choose a sentiment" in page.content.decode()

    page = _action(client, "add_tag", [first, second], tag="support ")
    assert "Tag “support” added to 2 mention(s)." in page.content.decode()
    _action(client, "add_tag", [first], tag="support")
    first.refresh_from_db()
    assert first.tags == ["support"]

    page = _action(client, "mark_irrelevant", [second])
    assert "1 mention(s) marked irrelevant." in page.content.decode()
    second.refresh_from_db()
    assert second.is_irrelevant
    assert client.get("/admin/social/mention/?is_irrelevant__exact=0").context["cl"].result_count == 1


def test_block_author_and_site(feed: Feed, maria: Any, login: Any) -> None:
    ingest(feed, "1", "buy cheap acme", author_handle="@Spammer", url="https://spam.example.net/a")
    ingest(feed, "2", "buy more acme", author_handle="spammer")
    ingest(feed, "3", "acme review", author_handle="honest", url="https://blog.junk.example.org/p")
    ingest(feed, "4", "acme story", author_handle="reporter", url="https://news.example.com/s")
    client = login(maria)
    page = _action(client, "block_author", [Mention.objects.get(external_id="1")])
    assert "2 stored mention(s) marked irrelevant" in page.content.decode()
    assert BlockedAuthor.objects.get().handle == "spammer"
    assert ingest(feed, "5", "acme again", author_handle="SPAMMER").status == "blocked"

    BlockedSite.objects.create(domain="junk.example.org")
    # Staff add a site by hand in the admin too: existing mentions from it and its subdomains are marked.
    response = client.post("/admin/social/blockedsite/add/", {"domain": "www.example.com", "reason": "noise"})
    assert response.status_code == 302
    assert Mention.objects.get(external_id="4").is_irrelevant
    assert ingest(feed, "6", "acme", url="https://cdn.example.com/x").status == "blocked"
    assert ingest(feed, "7", "acme", url="https://blog.junk.example.org/q").status == "blocked"
    assert ingest(feed, "8", "acme", url="https://example.org/ok").status == "created"
    assert not Mention.objects.filter(external_id__in=["5", "6", "7"]).exists()


def test_agent_sees_mentions_but_cannot_change_them(feed: Feed, sam: Any, login: Any) -> None:
    ingest(feed, "1", "acme")
    client = login(sam)
    assert client.get("/admin/social/mention/").status_code == 200
    _action(client, "mark_irrelevant", list(Mention.objects.all()))
    assert not Mention.objects.get().is_irrelevant


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_ingest_of_the_same_mention_stores_one() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises all writers")
    feed = Feed.objects.create(name="Race", url="https://race.example.com/rss")
    barrier = threading.Barrier(4)
    statuses: list[str] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            statuses.append(ingest(feed, "same", "acme race").status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == ["created", "duplicate", "duplicate", "duplicate"]
    assert Mention.objects.count() == 1
