"""Upsert by external id (PUT …/by-external-id/<id>/) and the bulk endpoint (up to 500 records, per-record answers)."""

from __future__ import annotations

from typing import Any

from crm.models import Company, Contact
from tests.api.conftest import problem


def test_put_by_external_id_creates_then_updates(partner: Any) -> None:
    shop = partner()
    url = "/api/v1/contacts/by-external-id/shop-42/"
    created = shop.put(url, {"first_name": "Lena", "emails": [{"email": "lena@example.com"}]}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["external_id"] == "shop-42"
    updated = shop.put(url, {"first_name": "Lena", "last_name": "Vogel"}, format="json")
    assert updated.status_code == 200 and updated.json()["id"] == created.json()["id"]
    assert Contact.objects.get().last_name == "Vogel"
    assert shop.get(url).json()["last_name"] == "Vogel"
    mismatch = shop.put(url, {"first_name": "L", "external_id": "other"}, format="json")
    assert problem(mismatch, 400)["errors"][0]["field"] == "external_id"
    problem(shop.get("/api/v1/contacts/by-external-id/unknown/"), 404)


def test_put_on_a_deleted_record_asks_to_restore_it(partner: Any, make_contact: Any) -> None:
    contact = make_contact(external_id="shop-7")
    shop = partner()
    shop.delete(f"/api/v1/contacts/{contact.pk}/")
    refused = shop.put("/api/v1/contacts/by-external-id/shop-7/", {"first_name": "Again"}, format="json")
    assert "restore" in problem(refused, 400)["detail"]


def test_company_upsert(partner: Any) -> None:
    shop = partner(["companies:write"])
    assert shop.put("/api/v1/companies/by-external-id/erp-1/", {"name": "Acme"}, format="json").status_code == 201
    assert shop.put("/api/v1/companies/by-external-id/erp-1/", {"name": "Acme AG"}, format="json").status_code == 200
    assert Company.objects.get().name == "Acme AG"


def test_bulk_answers_per_record_without_failing_the_batch(partner: Any, make_contact: Any) -> None:
    make_contact("Old", external_id="b-2")
    shop = partner()
    records = [
        {"external_id": "b-1", "first_name": "One", "emails": [{"email": "one@example.com"}]},
        {"external_id": "b-2", "first_name": "Two"},
        {"external_id": "b-3", "first_name": "Three", "emails": [{"email": "broken"}]},
        {"first_name": "No id"},
        {"external_id": "b-1", "first_name": "Twice"},
        {"external_id": "b-4", "first_name": "", "last_name": ""},
        {"external_id": "b-5", "first_name": "Five", "company_external_id": "nowhere"},
    ]
    response = shop.post("/api/v1/contacts/bulk/", {"records": records}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["updated"], body["failed"]) == (1, 1, 5)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["created", "updated", "error", "error", "error", "error", "error"]
    assert body["results"][2]["errors"][0]["field"] == "emails.0.email"
    assert body["results"][5]["errors"][0]["field"] == "first_name"
    # Failed records left nothing behind (each ran in its own savepoint); the good ones are stored.
    assert sorted(Contact.objects.values_list("external_id", flat=True)) == ["b-1", "b-2"]
    assert Contact.objects.get(external_id="b-2").first_name == "Two"


def test_oversized_or_malformed_batches_are_refused(partner: Any) -> None:
    shop = partner()
    too_many = [{"external_id": f"x{i}", "first_name": "X"} for i in range(501)]
    body = problem(shop.post("/api/v1/contacts/bulk/", {"records": too_many}, format="json"), 413)
    assert body["limit"] == 500 and "500" in body["detail"]
    problem(shop.post("/api/v1/contacts/bulk/", [{"external_id": "x"}], format="json"), 400)
    problem(shop.post("/api/v1/contacts/bulk/", {"records": ["x"]}, format="json"), 400)
    assert not Contact.objects.exists()
