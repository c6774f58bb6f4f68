"""Partners post batches of mentions to their signed ingestion URL; each item gets its own result, a bad item
does not stop the others, and bad requests get the same statuses as the channel webhooks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from social.models import BlockedAuthor, Mention, PartnerSource
from tests.listening.conftest import PARTNER_SECRET, post_mentions, signed


def mention(external_id: str, text: str = "Acme support was fantastic today", **extra: Any) -> dict[str, Any]:
    return {
        "id": external_id,
        "text": text,
        "author": {"handle": "@fan", "name": "A Fan"},
        "url": f"https://social.example.com/p/{external_id}",
        "posted_at": "2026-11-28T09:15:00Z",
        "reach": {"followers": 320, "likes": 12, "shares": 3},
        **extra,
    }


def test_batch_is_ingested_with_a_result_per_item(client: Client, partner: PartnerSource, make_monitor: Any) -> None:
    monitor = make_monitor("Acme", "acme")
    BlockedAuthor.objects.create(handle="spammer")
    payload = {
        "mentions": [
            mention("p1"),
            mention("p2", text="Acme broke down again, awful", language="en"),
            {"id": "p3"},
            "not an object",
            mention("p4", posted_at="yesterday"),
            mention("p5", author={"handle": "Spammer"}),
            mention("p1"),
        ]
    }
    response = post_mentions(client, partner, payload)
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"id": "p1", "status": "created"},
        {"id": "p2", "status": "created"},
        {"id": "p3", "status": "invalid", "error": "text missing"},
        {"id": None, "status": "invalid", "error": "not an object"},
        {"id": "p4", "status": "invalid", "error": "posted_at is not an ISO 8601 date-time"},
        {"id": "p5", "status": "blocked"},
        {"id": "p1", "status": "duplicate"},
    ]
    first = Mention.objects.get(external_id="p1")
    assert first.source_kind == "partner" and first.partner == partner and first.author_handle == "@fan"
    assert first.reach == {"followers": 320, "likes": 12, "shares": 3}
    assert first.posted_at.isoformat() == "2026-11-28T09:15:00+00:00"
    assert list(first.monitors.all()) == [monitor] and first.sentiment_label == "positive"
    assert Mention.objects.get(external_id="p2").sentiment_label == "negative"
    # The partner retries the whole batch: nothing is stored twice.
    again = post_mentions(client, partner, {"mentions": [mention("p1"), mention("p2")]})
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    assert Mention.objects.count() == 2


def test_signature_is_required_and_checked(client: Client, partner: PartnerSource) -> None:
    body = json.dumps({"mentions": [mention("s1")]}).encode()
    assert post_mentions(client, partner, body, sign=False).status_code == 401
    wrong = signed(body, secret="another-secret-0123456789abcdef0123")
    assert post_mentions(client, partner, body, sign=False, **wrong).status_code == 403
    stale = signed(body, timestamp=int(time.time()) - 600)
    assert post_mentions(client, partner, body, sign=False, **stale).status_code == 403
    tampered = signed(body)
    assert post_mentions(client, partner, body.replace(b"s1", b"s2"), sign=False, **tampered).status_code == 403
    assert (
        post_mentions(
            client, partner, body, sign=False, **signed(body, timestamp=0) | {"HTTP_X_SCRM_TIMESTAMP": "soon"}
        ).status_code
        == 403
    )
    assert not Mention.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        '{"mentions": [{"id": "x", "text": "caf\xe9"}]}'.encode("latin-1"),  # not UTF-8
        b'["a list"]',
        b'{"mentions": "p1"}',
        b'{"items": []}',
    ],
)
def test_malformed_body_is_400(client: Client, partner: PartnerSource, body: bytes) -> None:
    response = post_mentions(client, partner, body)
    assert response.status_code == 400 and response.content.startswith(b"malformed body")
    assert not Mention.objects.exists()


def test_unicode_escapes_that_are_not_text_are_cleaned(client: Client, partner: PartnerSource) -> None:
    body = b'{"mentions": [{"id": "u1", "text": "acme \\u0000 and \\ud83d alone \\u00e9"}]}'
    response = post_mentions(client, partner, body)
    assert response.json()["results"] == [{"id": "u1", "status": "created"}]
    assert Mention.objects.get().text == "acme  and \ufffd alone é"


def test_too_many_or_too_large_is_413(client: Client, partner: PartnerSource, settings: Any) -> None:
    settings.LISTENING_INGEST_MAX_ITEMS = 3
    response = post_mentions(client, partner, {"mentions": [mention(f"m{i}") for i in range(4)]})
    assert response.status_code == 413 and b"at most 3" in response.content
    huge = json.dumps({"mentions": [mention("big", text="acme " * 300_000)]}).encode()
    assert post_mentions(client, partner, huge).status_code == 413
    assert not Mention.objects.exists()


def test_unknown_or_inactive_key_is_404(client: Client, partner: PartnerSource) -> None:
    body = json.dumps({"mentions": [mention("k1")]}).encode()
    response = client.post("/listening/ingest/nope/", data=body, content_type="application/json", **signed(body))
    assert response.status_code == 404
    partner.is_active = False
    partner.save(update_fields=["is_active"])
    assert post_mentions(client, partner, body).status_code == 404
    assert client.get(f"/listening/ingest/{partner.ingest_key}/").status_code == 405


def test_staff_create_a_partner_source_and_see_its_url(ada: Any, login: Any, settings: Any) -> None:
    settings.SOCIAL_PUBLIC_URL = "https://crm.example.com"
    client = login(ada)
    response = client.post("/admin/social/partnersource/add/", {"name": "Brandwatcher", "is_active": "on"})
    assert "needs its signing secret" in response.content.decode()
    response = client.post(
        "/admin/social/partnersource/add/", {"name": "Brandwatcher", "is_active": "on", "signing_secret": "short"}
    )
    assert "at least 32 characters" in response.content.decode()
    response = client.post(
        "/admin/social/partnersource/add/",
        {"name": "Brandwatcher", "is_active": "on", "signing_secret": PARTNER_SECRET},
    )
    source = PartnerSource.objects.get()
    assert response.status_code == 302 and PARTNER_SECRET not in source.secret_encrypted
    page = client.get(f"/admin/social/partnersource/{source.pk}/change/").content.decode()
    assert f"https://crm.example.com/listening/ingest/{source.ingest_key}/" in page
    assert PARTNER_SECRET not in page and "••••" in page
    # Saving again without a secret keeps the stored one.
    client.post(f"/admin/social/partnersource/{source.pk}/change/", {"name": "Renamed", "is_active": "on"})
    source.refresh_from_db()
    assert source.name == "Renamed" and source.signing_secret == PARTNER_SECRET
    assert post_mentions(Client(), source, {"mentions": [mention("a1")]}).status_code == 200
