"""Companies through the API: normalised like the admin, tags, filters, soft delete into the deletions feed."""

from __future__ import annotations

from typing import Any

from crm.models import Company
from tests.api.conftest import problem


def test_partner_creates_and_changes_a_company(partner: Any) -> None:
    shop = partner(["companies:write"])
    created = shop.post(
        "/api/v1/companies/",
        {"name": "Acme", "domain": "https://Acme.example/", "country": "de", "tags": ["key account"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["domain"], body["country"], body["tags"]) == ("acme.example", "DE", ["key account"])
    assert shop.get("/api/v1/companies/?domain=ACME.example").json()["results"][0]["id"] == body["id"]
    patched = shop.patch(f"/api/v1/companies/{body['id']}/", {"phone": "+49 30 901820"}, format="json")
    assert patched.json()["phone"] == "+4930901820"
    nameless = problem(shop.post("/api/v1/companies/", {"domain": "x.example"}, format="json"), 400)
    assert nameless["errors"][0]["field"] == "name"
    assert shop.delete(f"/api/v1/companies/{body['id']}/").status_code == 204
    assert not Company.objects.exists()
    tombstones = shop.get("/api/v1/companies/deletions/").json()["results"]
    assert [t["id"] for t in tombstones] == [body["id"]]
