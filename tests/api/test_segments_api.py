"""Segments through the partner API: read them, and page through a segment's members (dynamic ones evaluated
at the request, static ones their frozen list); members need the contacts scope too."""

from __future__ import annotations

from typing import Any

from crm.models import Segment
from crm.services.segments import segment_freeze
from tests.api.conftest import problem


def test_partner_pages_through_a_segments_members(partner: Any, make_contact: Any) -> None:
    customers = [make_contact(f"Customer{i}", stage="customer") for i in range(5)]
    make_contact("Lead", stage="lead")
    segment = Segment.objects.create(name="Customers", definition={"stages": ["customer"]})
    shop = partner(["segments:read", "contacts:read"])
    assert [s["name"] for s in shop.get("/api/v1/segments/").json()["results"]] == ["Customers"]
    seen: list[int] = []
    url = f"/api/v1/segments/{segment.pk}/members/?limit=2"
    while url:
        page = shop.get(url).json()
        seen += [c["id"] for c in page["results"]]
        url = page["next"]
    assert seen == [c.pk for c in customers]  # (updated_at, id) order, each once
    assert set(shop.get(f"/api/v1/segments/{segment.pk}/members/").json()["results"][0]) >= {"emails", "stage"}

    frozen = segment_freeze(segment=segment, name="Customers in May")
    make_contact("Late", stage="customer")  # joins the dynamic segment, not the frozen one
    assert len(shop.get(f"/api/v1/segments/{segment.pk}/members/").json()["results"]) == 6
    assert len(shop.get(f"/api/v1/segments/{frozen.pk}/members/").json()["results"]) == 5
    assert shop.get("/api/v1/segments/?kind=static").json()["results"][0]["id"] == frozen.pk


def test_members_need_the_contacts_scope(partner: Any, make_contact: Any) -> None:
    segment = Segment.objects.create(name="Everyone", definition={})
    make_contact("Anna")
    only_segments = partner(["segments:read"])
    assert only_segments.get(f"/api/v1/segments/{segment.pk}/").status_code == 200
    assert "contacts:read" in problem(only_segments.get(f"/api/v1/segments/{segment.pk}/members/"), 403)["detail"]
    problem(partner(["contacts:read"]).get("/api/v1/segments/"), 403)
    problem(partner(["segments:read", "contacts:read"]).get("/api/v1/segments/999999/members/"), 404)
    problem(partner(["segments:read", "contacts:read"]).get(f"/api/v1/segments/{segment.pk}/members/?cursor=x"), 400)
