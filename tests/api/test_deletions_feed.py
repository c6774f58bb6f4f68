"""Deletions feed: soft-deleted (and merged) records as tombstones, kept API_TOMBSTONE_RETENTION_DAYS days."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from crm.models import Contact
from tests.api.conftest import problem


def test_deleted_contacts_appear_as_tombstones_since_a_time(partner: Any, make_contact: Any) -> None:
    kept, gone, older = make_contact("Kept"), make_contact("Gone", external_id="shop-9"), make_contact("Older")
    shop = partner()
    shop.delete(f"/api/v1/contacts/{older.pk}/")
    Contact.all_objects.filter(pk=older.pk).update(deleted_at=timezone.now() - dt.timedelta(days=3))
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    shop.delete(f"/api/v1/contacts/{gone.pk}/")
    response = shop.get("/api/v1/contacts/deletions/", {"since": since})
    assert response.status_code == 200, response.content
    (tombstone,) = response.json()["results"]
    assert tombstone["id"] == gone.pk and tombstone["external_id"] == "shop-9" and tombstone["deleted_at"]
    everything = shop.get("/api/v1/contacts/deletions/").json()["results"]
    assert [t["id"] for t in everything] == [older.pk, gone.pk]
    assert kept.pk not in [r["id"] for r in shop.get("/api/v1/contacts/deletions/").json()["results"]]


def test_tombstones_older_than_the_retention_are_not_served(partner: Any, make_contact: Any, settings: Any) -> None:
    settings.API_TOMBSTONE_RETENTION_DAYS = 7
    ancient = make_contact("Ancient")
    shop = partner(["contacts:read", "contacts:write"])
    shop.delete(f"/api/v1/contacts/{ancient.pk}/")
    Contact.all_objects.filter(pk=ancient.pk).update(deleted_at=timezone.now() - dt.timedelta(days=8))
    assert shop.get("/api/v1/contacts/deletions/").json()["results"] == []
    since = (timezone.now() - dt.timedelta(days=10)).isoformat()
    assert "full sync" in problem(shop.get("/api/v1/contacts/deletions/", {"since": since}), 410)["detail"]
    problem(shop.get("/api/v1/contacts/deletions/", {"since": "last week"}), 400)
