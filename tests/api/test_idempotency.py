"""Idempotency-Key: a retried write gets the first answer again; the same key with another body is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from crm.models import ApiKey, Contact, IdempotencyRecord
from tests.api.conftest import problem


def test_retry_with_the_same_key_replays_the_first_answer(partner: Any) -> None:
    shop = partner()
    first = shop.post("/api/v1/contacts/", {"first_name": "Lena"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = shop.post("/api/v1/contacts/", {"first_name": "Lena"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"] and again["ETag"] == first["ETag"]
    assert Contact.objects.count() == 1
    reused = shop.post("/api/v1/contacts/", {"first_name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert problem(reused, 422)["type"].endswith("idempotency_key_reused")
    assert Contact.objects.count() == 1


def test_keys_belong_to_one_partner_and_expire_after_a_day(partner: Any) -> None:
    shop, other = partner(), partner()
    shop.post("/api/v1/contacts/", {"first_name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert (
        other.post("/api/v1/contacts/", {"first_name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="same").status_code
        == 201
    )
    assert Contact.objects.count() == 2
    IdempotencyRecord.objects.update(created_at=IdempotencyRecord.objects.first().created_at - dt.timedelta(hours=25))  # type: ignore[union-attr]
    assert (
        shop.post("/api/v1/contacts/", {"first_name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="same").status_code
        == 201
    )
    assert Contact.objects.count() == 3


def test_errors_are_replayed_too_and_bulk_and_patch_take_keys(partner: Any, make_contact: Any) -> None:
    shop = partner()
    bad = {"first_name": "A", "stage": "king"}
    first = shop.post("/api/v1/contacts/", bad, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    replay = shop.post("/api/v1/contacts/", bad, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert problem(replay, 400) == problem(first, 400)

    batch = {"records": [{"external_id": "i-1", "first_name": "One"}]}
    one = shop.post("/api/v1/contacts/bulk/", batch, format="json", HTTP_IDEMPOTENCY_KEY="bulk-1").json()
    two = shop.post("/api/v1/contacts/bulk/", batch, format="json", HTTP_IDEMPOTENCY_KEY="bulk-1").json()
    assert one == two and one["results"][0]["status"] == "created"  # not "updated": the batch ran once

    contact = make_contact()
    url = f"/api/v1/contacts/{contact.pk}/"
    shop.patch(url, {"job_title": "CEO"}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    shop.patch(url, {"job_title": "Intern"}, format="json")
    replay = shop.patch(url, {"job_title": "CEO"}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert replay.json()["job_title"] == "CEO"
    contact.refresh_from_db()
    assert contact.job_title == "Intern"  # the replay did not write again
    problem(shop.post("/api/v1/contacts/", {"first_name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="x" * 300), 400)


def test_a_key_still_in_progress_is_answered_409(partner: Any) -> None:
    shop = partner()
    key = ApiKey.objects.get()
    body = b'{"first_name":"A"}'
    # What a concurrent request with this key holds while it runs: the claim, no answer yet.
    digest = hashlib.sha256(b"POST /api/v1/contacts/\n" + body).hexdigest()
    IdempotencyRecord.objects.create(owner=f"key:{key.pk}", key="busy", fingerprint=digest)
    response = shop.post("/api/v1/contacts/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="busy")
    assert problem(response, 409)["type"].endswith("idempotency_in_progress")
