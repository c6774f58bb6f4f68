"""Optimistic concurrency: detail answers carry an ETag; a write with a stale If-Match gets 412."""

from __future__ import annotations

from typing import Any

from crm.models import Contact
from tests.api.conftest import problem


def test_stale_if_match_is_refused_and_nothing_changes(partner: Any, make_contact: Any) -> None:
    contact = make_contact(external_id="e-1")
    shop, colleague = partner(), partner()
    url = f"/api/v1/contacts/{contact.pk}/"
    read = shop.get(url)
    etag = read["ETag"]
    assert etag and shop.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304

    changed = colleague.patch(url, {"job_title": "CEO"}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag

    stale = shop.patch(url, {"job_title": "Intern"}, format="json", HTTP_IF_MATCH=etag)
    assert problem(stale, 412)["current_etag"] == changed["ETag"]
    problem(
        shop.put("/api/v1/contacts/by-external-id/e-1/", {"first_name": "X"}, format="json", HTTP_IF_MATCH=etag), 412
    )
    problem(shop.delete(url, HTTP_IF_MATCH=etag), 412)
    contact.refresh_from_db()
    assert contact.job_title == "CEO" and contact.deleted_at is None

    fresh = shop.patch(url, {"job_title": "Intern"}, format="json", HTTP_IF_MATCH=changed["ETag"])
    assert fresh.status_code == 200
    assert shop.delete(url, HTTP_IF_MATCH=fresh["ETag"]).status_code == 204
    assert not Contact.objects.exists()


def test_if_match_on_an_upsert_that_would_create_is_refused(partner: Any) -> None:
    shop = partner()
    response = shop.put(
        "/api/v1/contacts/by-external-id/new/", {"first_name": "N"}, format="json", HTTP_IF_MATCH='"1-1"'
    )
    problem(response, 412)
    assert not Contact.objects.exists()
