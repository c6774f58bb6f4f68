"""Public comments on connected channels become mentions: Facebook page feed comments, Instagram comments and
@mentions, delivered by Meta's signed webhooks next to (and mixed with) Messenger messages."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from social.models import Channel, InboundEvent, Mention, Message
from tests.social.conftest import APP_SECRET, make_channel, meta_signature, post_json

__all__ = ["make_channel"]  # the fixture, for this module's tests

PAGE_ID = "1234567890"
IG_ID = "17841405309211844"


def signed_post(channel: Channel, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    return post_json(Client(), channel, body, HTTP_X_HUB_SIGNATURE_256=meta_signature(body))


def feed_comment(
    comment_id: str = "111_222", text: str = "The Acme jacket kept me dry all week, love it", **extra: Any
):
    value = {
        "from": {"id": "5550001", "name": "Rider Rita"},
        "post_id": "1234567890_999",
        "comment_id": comment_id,
        "parent_id": "1234567890_999",
        "created_time": 1_764_400_000,
        "item": "comment",
        "verb": "add",
        "message": text,
        **extra,
    }
    return {"field": "feed", "value": value}


def page_payload(*changes: dict[str, Any], messaging: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": PAGE_ID, "time": 1_764_400_001, "changes": list(changes)}
    if messaging:
        entry["messaging"] = messaging
    return {"object": "page", "entry": [entry]}


@pytest.fixture
def page(make_channel: Any, fake_provider: Any) -> Channel:
    return make_channel(
        Channel.Kind.MESSENGER,
        page_id=PAGE_ID,
        access_token="page-token",
        app_secret=APP_SECRET,
        api_base=fake_provider.url,
    )


@pytest.fixture
def instagram(make_channel: Any, fake_provider: Any) -> Channel:
    return make_channel(
        Channel.Kind.INSTAGRAM,
        page_id=IG_ID,
        access_token="ig-token",
        app_secret=APP_SECRET,
        api_base=fake_provider.url,
    )


def test_feed_comment_becomes_a_classified_mention(page: Channel, tasks: Any, make_monitor: Any) -> None:
    acme = make_monitor("Acme", "acme")
    assert signed_post(page, page_payload(feed_comment())).status_code == 200
    tasks.run()
    mention = Mention.objects.get()
    assert mention.source_kind == "channel_comment" and mention.channel == page
    assert mention.external_id == "111_222" and mention.text.startswith("The Acme jacket")
    assert mention.author_name == "Rider Rita" and mention.author_external_id == "5550001"
    assert mention.posted_at.timestamp() == 1_764_400_000
    assert mention.url == "https://www.facebook.com/111_222"
    assert mention.source_meta == {"kind": "comment", "post_id": "1234567890_999"}
    assert list(mention.monitors.all()) == [acme] and mention.sentiment_label == "positive"
    assert InboundEvent.objects.get().status == "processed"


def test_redelivered_and_rebatched_comments_are_stored_once(page: Channel, tasks: Any) -> None:
    signed_post(page, page_payload(feed_comment()))
    signed_post(page, page_payload(feed_comment()))  # same body: same stored event
    signed_post(page, page_payload(feed_comment(), feed_comment("111_333", "second comment here")))
    tasks.run()
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["111_222", "111_333"]


def test_only_new_comments_by_others_count(page: Channel, tasks: Any) -> None:
    own = feed_comment("111_444", "Thanks for your feedback!", **{"from": {"id": PAGE_ID, "name": "Acme"}})
    edited = feed_comment("111_555", verb="edited")
    like = {"field": "feed", "value": {"item": "reaction", "verb": "add", "post_id": "1_2", "from": {"id": "9"}}}
    signed_post(page, page_payload(own, edited, like, {"field": "feed", "value": "not an object"}))
    tasks.run()
    assert not Mention.objects.exists()
    assert InboundEvent.objects.get().status == "ignored"


def test_comments_and_messages_in_one_delivery(page: Channel, tasks: Any) -> None:
    message = {
        "sender": {"id": "24681357"},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1_764_400_000_000,
        "message": {"mid": "m_1", "text": "Hello there"},
    }
    signed_post(page, page_payload(feed_comment(), messaging=[message]))
    tasks.run()
    assert Mention.objects.count() == 1 and Message.objects.get().text == "Hello there"


def test_comment_without_id_is_refused_at_the_door(page: Channel, tasks: Any) -> None:
    broken = feed_comment()
    del broken["value"]["comment_id"]
    response = signed_post(page, page_payload(broken))
    assert response.status_code == 400
    tasks.run()
    assert not InboundEvent.objects.exists() and not Mention.objects.exists()


def test_instagram_comment_and_mention(instagram: Channel, tasks: Any, fake_provider: Any) -> None:
    comment = {
        "field": "comments",
        "value": {
            "from": {"id": "7770001", "username": "trail_tom"},
            "media": {"id": "18000000001", "media_product_type": "FEED"},
            "id": "17900000001",
            "text": "Where can I buy this backpack?",
        },
    }
    mentioned = {"field": "mentions", "value": {"media_id": "18000000002", "comment_id": "17900000002"}}
    fake_provider.script(
        (
            200,
            {
                "mentioned_comment": {
                    "text": "@acme your support was terrible, still waiting",
                    "username": "angry_ann",
                    "timestamp": "2026-11-28T10:00:00+0000",
                    "id": "17900000002",
                },
                "id": IG_ID,
            },
        )
    )
    payload = {"object": "instagram", "entry": [{"id": IG_ID, "time": 1_764_400_000, "changes": [comment, mentioned]}]}
    signed_post(instagram, payload)
    tasks.run()
    by_id = {m.external_id: m for m in Mention.objects.all()}
    assert by_id["17900000001"].author_handle == "@trail_tom" and by_id["17900000001"].author_external_id == "7770001"
    assert by_id["17900000001"].source_meta == {"kind": "comment", "post_id": "18000000001"}
    fetched = by_id["17900000002"]
    assert fetched.text.startswith("@acme your support") and fetched.author_handle == "@angry_ann"
    assert fetched.sentiment_label == "negative" and fetched.source_meta["kind"] == "mention"
    assert fetched.posted_at.isoformat() == "2026-11-28T10:00:00+00:00"
    request = fake_provider.requests[-1]
    assert request.method == "GET" and request.headers["authorization"] == "Bearer ig-token"
    query = parse_qs(urlsplit(request.path).query)
    assert urlsplit(request.path).path == f"/{IG_ID}"
    assert query["fields"] == ["mentioned_comment.comment_id(17900000002){text,username,timestamp}"]


def test_instagram_mention_fetch_retried_on_provider_outage(instagram: Channel, tasks: Any, fake_provider: Any) -> None:
    fake_provider.script((503, {"error": {"message": "down", "code": 2}}))
    mentioned = {"field": "mentions", "value": {"media_id": "18000000002", "comment_id": "17900000002"}}
    signed_post(instagram, {"object": "instagram", "entry": [{"id": IG_ID, "time": 1, "changes": [mentioned]}]})
    tasks.run()
    event = InboundEvent.objects.get()
    assert event.status == "pending" and "503" in event.error  # handed back to the queue by the stale sweep
    assert not Mention.objects.exists()
