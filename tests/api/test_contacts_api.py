"""Contacts through the API: the admin's validation rules, children lists, tags, attributes, filters, soft delete."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django.db.models.signals import pre_save

from crm.audit import history_for
from crm.models import ApiKey, AttributeDefinition, Company, Contact, DeletedContact, User
from tests.api.conftest import problem

LENA = {
    "external_id": "shop-1",
    "first_name": "Lena",
    "last_name": "Vogel",
    "stage": "customer",
    "tags": ["VIP", "newsletter"],
    "emails": [{"email": "Lena@Example.com", "label": "work"}, {"email": "lena@home.example"}],
    "phones": [{"number": "(415) 555-0123", "label": "mobile"}],
    "consents": [
        {"channel": "email", "status": "opted_in", "recorded_at": "2026-01-02T10:00:00Z", "method": "web_form"}
    ],
}


def test_partner_creates_reads_changes_and_deletes_a_contact(partner: Any, paul: User, acme: Company) -> None:
    shop = partner()
    created = shop.post("/api/v1/contacts/", {**LENA, "company": acme.pk}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["emails"][0] == {"email": "lena@example.com", "label": "work", "is_primary": True}
    assert body["phones"][0]["number"] == "+14155550123"  # normalised like the admin
    assert body["tags"] == ["newsletter", "VIP"] and body["company"] == acme.pk
    assert created["Location"].endswith(f"/api/v1/contacts/{body['id']}/")

    url = f"/api/v1/contacts/{body['id']}/"
    changed = shop.patch(url, {"stage": "churned", "emails": [{"email": "lena@example.com"}]}, format="json")
    assert changed.status_code == 200
    contact = Contact.objects.get()
    assert contact.stage == "churned" and [e.email for e in contact.emails.all()] == ["lena@example.com"]
    assert [p.number for p in contact.phones.all()] == ["+14155550123"]  # not sent: left alone

    assert shop.delete(url).status_code == 204
    assert not Contact.objects.exists() and DeletedContact.objects.get().deleted_by == paul
    problem(shop.get(url), 404)
    # Every change (the contact's and its addresses', phones', consents') is audited with the partner as actor.
    history = history_for(contact)
    assert history.count() >= 6 and {entry.actor_id for entry in history} == {paul.pk}
    # ... and the key as origin, so the partner's own webhooks can leave its changes out (echo suppression).
    key = ApiKey.objects.get()
    assert {(e.additional_data or {}).get("api_key_id") for e in history} == {key.pk}
    assert all(e.additional_data["contact_id"] == contact.pk for e in history if e.content_type.model == "contactemail")


def test_requests_leave_no_audit_receivers_behind(partner: Any, paul: User) -> None:
    """Each request sets the audit actor for its own changes and takes it away again: a long-running server
    must not collect one more log-entry receiver per request (each then run for every later entry)."""
    shop = partner()
    shop.get("/api/v1/contacts/")
    receivers = len(pre_save.receivers)
    for index in range(5):
        body = {"records": [{"external_id": f"leak-{index}", "first_name": "Lena"}]}
        assert shop.post("/api/v1/contacts/bulk/", body, format="json").json()["created"] == 1
        assert shop.get("/api/v1/contacts/").status_code == 200
    assert len(pre_save.receivers) == receivers
    contact = Contact.objects.get(external_id="leak-4")
    assert {entry.actor_id for entry in history_for(contact)} == {paul.pk}
    contact.job_title = "Changed outside a request"
    contact.save()
    assert LogEntry.objects.filter(object_pk=str(contact.pk)).latest("id").actor_id is None


def test_invalid_contact_is_refused_whole_with_field_errors(partner: Any) -> None:
    shop = partner()
    response = shop.post(
        "/api/v1/contacts/",
        {
            "first_name": "",
            "emails": [{"email": "ok@example.com"}, {"email": "not-an-address"}],
            "phones": [{"number": "12"}],
            "company_external_id": "nope",
        },
        format="json",
    )
    body = problem(response, 400)
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"emails.1.email"}
    unknown_company = shop.post("/api/v1/contacts/", {"first_name": "A", "company_external_id": "nope"}, format="json")
    assert "No company with external id 'nope'" in problem(unknown_company, 400)["detail"]
    # Model rules (the admin's): a name is required, phones must be numbers.
    ok_shape = shop.post("/api/v1/contacts/", {"first_name": " ", "phones": [{"number": "12"}]}, format="json")
    fields = {e["field"] for e in problem(ok_shape, 400)["errors"]}
    assert fields == {"first_name", "phones.0.number"}
    assert not Contact.objects.exists()


def test_external_id_is_unique_and_owner_must_be_staff(partner: Any, make_contact: Any, paul: User) -> None:
    make_contact(external_id="shop-1")
    shop = partner()
    taken = problem(shop.post("/api/v1/contacts/", {"first_name": "A", "external_id": "shop-1"}, format="json"), 400)
    assert "external id" in taken["detail"]
    not_staff = problem(shop.post("/api/v1/contacts/", {"first_name": "A", "owner": paul.pk}, format="json"), 400)
    assert not_staff["errors"][0]["field"] == "owner"


def test_custom_attributes_follow_their_definitions(partner: Any) -> None:
    AttributeDefinition.objects.create(key="tier", label="Tier", type="choice", choices=["gold", "silver"])
    AttributeDefinition.objects.create(key="visits", label="Visits", type="number")
    shop = partner()
    bad = problem(
        shop.post("/api/v1/contacts/", {"first_name": "A", "attributes": {"tier": "bronze", "x": 1}}, format="json"),
        400,
    )
    messages = " ".join(e["message"] for e in bad["errors"])
    assert "tier: expected one of gold, silver" in messages and "x: unknown attribute" in messages
    created = shop.post(
        "/api/v1/contacts/", {"first_name": "A", "attributes": {"tier": "gold", "visits": "3"}}, format="json"
    )
    assert created.json()["attributes"] == {"tier": "gold", "visits": 3}
    url = f"/api/v1/contacts/{created.json()['id']}/"
    merged = shop.patch(url, {"attributes": {"visits": None}}, format="json").json()
    assert merged["attributes"] == {"tier": "gold"}


def test_filters_find_contacts_like_the_admin_search(partner: Any, make_contact: Any, acme: Company, ada: User) -> None:
    anna = make_contact(
        "Anna", "Schmidt", email="anna@acme.example", phone="+14155550123", company=acme, stage="customer"
    )
    make_contact("Bert", "Meyer", stage="lead", owner=ada, external_id="b-1")
    shop = partner(["contacts:read"])

    def names(query: str) -> list[str]:
        response = shop.get(f"/api/v1/contacts/?{query}")
        assert response.status_code == 200, response.content
        return [r["first_name"] for r in response.json()["results"]]

    assert names("phone=(415)%20555-0123") == ["Anna"]
    assert names("email=ANNA@acme.example") == ["Anna"]
    assert names("stage=lead") == ["Bert"]
    assert names(f"company={acme.pk}") == ["Anna"]
    assert names(f"owner={ada.pk}") == ["Bert"]
    assert names("external_id=b-1") == ["Bert"]
    assert names("search=acme") == ["Anna"]
    assert names("ordering=-created_at") == ["Bert", "Anna"]
    anna.tags.create(name="VIP")
    assert names("tag=vip") == ["Anna"]
    assert names("created_after=2000-01-01T00:00:00Z") == ["Anna", "Bert"]
    problem(shop.get("/api/v1/contacts/?phone=12"), 400)
    problem(shop.get("/api/v1/contacts/?stage=king"), 400)
    problem(shop.get("/api/v1/contacts/?ordering=first_name"), 400)
    problem(shop.get("/api/v1/contacts/?updated_after=yesterday"), 400)
