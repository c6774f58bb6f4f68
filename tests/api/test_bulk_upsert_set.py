"""The set-based bulk upsert (crm.services.contact_bulk) behaves as the single-record path: same stored rows,
same validation answers, and the same audit trail (one entry per change, with the partner's user as actor and
its key as origin), while a refused record leaves nothing behind and the others are kept."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from crm.models import AttributeDefinition, Contact, ContactEmail

FIRST = {
    "first_name": "Anna", "last_name": "Schmidt", "stage": "lead", "job_title": "Buyer",
    "emails": [{"email": "Anna@Example.com", "label": "work"}, {"email": "anna@home.example"}],
    "phones": [{"number": "+49 30 21234567"}],
    "consents": [
        {"channel": "email", "status": "opted_in", "method": "web_form", "recorded_at": "2026-01-31T12:00:00Z"}
    ],
    "tags": ["VIP", "newsletter"], "attributes": {"tier": "gold"},
}  # fmt: skip
SECOND = {
    "first_name": "Anna", "last_name": "Weber", "stage": "customer",
    "emails": [{"email": "anna@example.com", "label": "home", "is_primary": True}],
    "phones": [{"number": "+49 30 21234567", "label": "mobile"}, {"number": "+49 30 29990001"}],
    "tags": ["VIP", "wholesale"], "attributes": {"tier": "silver"},
}  # fmt: skip


def trail(external_id: str) -> list[tuple[Any, ...]]:
    """The audit entries of the contact and its children, in a comparable form (ids and times left out)."""
    contact = Contact.objects.get(external_id=external_id)
    entries = LogEntry.objects.filter(
        object_pk=str(contact.pk), content_type__model="contact"
    ) | LogEntry.objects.filter(additional_data__contact_id=contact.pk)
    rows = []
    for e in entries.select_related("content_type", "actor").order_by("id"):
        changes = {k: v for k, v in (e.changes or {}).items() if k not in {"id", "contact", "external_id"}}
        extra = {k: v for k, v in (e.additional_data or {}).items() if k != "contact_id"}
        rows.append((e.content_type.model, e.action, e.object_repr, repr(sorted(changes.items())), e.actor.username,
                     repr(sorted(extra.items())), e.remote_addr, e.remote_port, e.actor_email, e.changes_text,
                     repr(e.serialized_data), e.cid))  # fmt: skip
    return sorted(rows)


def stored(external_id: str) -> dict[str, Any]:
    contact = Contact.objects.get(external_id=external_id)
    return {
        "fields": (
            contact.first_name,
            contact.last_name,
            contact.search_name,
            contact.stage,
            contact.job_title,
            contact.attributes,
        ),
        "emails": sorted(contact.emails.values_list("email", "label", "is_primary")),
        "phones": sorted(contact.phones.values_list("number", "label", "is_primary")),
        "consents": sorted(contact.consents.values_list("channel", "status", "method")),
        "tags": sorted(contact.tags.values_list("name", flat=True)),
    }


def test_bulk_writes_and_audits_as_the_single_path(partner: Any) -> None:
    AttributeDefinition.objects.create(key="tier", label="Tier")
    shop = partner()
    for version in (FIRST, SECOND):
        single = shop.put("/api/v1/contacts/by-external-id/one/", version, format="json")
        assert single.status_code in (200, 201), single.content
        bulk = shop.post("/api/v1/contacts/bulk/", {"records": [{**version, "external_id": "many"}]}, format="json")
        assert bulk.json()["failed"] == 0, bulk.json()
        assert stored("one") == stored("many")
        assert trail("one") == trail("many")
    assert stored("many")["tags"] == ["VIP", "wholesale"] and stored("many")["fields"][2] == "anna weber"
    entry = LogEntry.objects.filter(object_pk=str(Contact.objects.get(external_id="many").pk)).first()
    assert entry is not None and entry.additional_data["api_key"].startswith("scrm_")
    assert entry.remote_addr == "127.0.0.1" and entry.actor_email == "it@shop.example"  # stamped as on the single path
    # Unchanged records are not written again: no new audit entry, updated_at kept.
    before = Contact.objects.get(external_id="many").updated_at
    count = LogEntry.objects.count()
    again = shop.post("/api/v1/contacts/bulk/", {"records": [{**SECOND, "external_id": "many"}]}, format="json")
    assert again.json()["updated"] == 1
    assert LogEntry.objects.count() == count and Contact.objects.get(external_id="many").updated_at == before


def test_bulk_refuses_bad_records_alone_with_the_single_paths_messages(partner: Any, make_contact: Any) -> None:
    shop = partner()
    gone = make_contact("Gone")
    Contact.objects.filter(pk=gone.pk).update(external_id="gone")
    shop.delete(f"/api/v1/contacts/{gone.pk}/")
    bad: list[dict[str, Any]] = [
        {"external_id": "ok-1", "first_name": "Kept"},
        {"external_id": "no-name", "first_name": " ", "last_name": ""},
        {"external_id": "bad-phone", "first_name": "X", "phones": [{"number": "12"}]},
        {"external_id": "gone", "first_name": "Back"},
        {"external_id": "bad-attr", "first_name": "Y", "attributes": {"nope": 1}},
        {"external_id": "ok-2", "first_name": "Also kept", "emails": [{"email": "also@example.com"}]},
    ]
    body = shop.post("/api/v1/contacts/bulk/", {"records": bad}, format="json").json()
    assert [r["status"] for r in body["results"]] == ["created", "error", "error", "error", "error", "created"]
    for record, result in zip(bad[1:5], body["results"][1:5], strict=True):
        single = shop.put(f"/api/v1/contacts/by-external-id/{record['external_id']}/", record, format="json").json()
        assert [e["field"] for e in result["errors"]] == [e["field"] for e in single["errors"]], (result, single)
        assert [e["message"] for e in result["errors"]] == [e["message"] for e in single["errors"]]
    assert set(Contact.objects.filter(external_id__in=[r["external_id"] for r in bad]).values_list(
        "external_id", flat=True)) == {"ok-1", "ok-2"}  # fmt: skip
    assert ContactEmail.objects.filter(email="also@example.com").count() == 1


def test_bulk_writes_are_announced_like_saves(partner: Any) -> None:
    """post_save listeners (outbound webhooks) hear of every contact written: created, changed, not unchanged."""
    heard: list[tuple[str, bool]] = []

    def listen(sender: Any, instance: Contact, created: bool, **kwargs: Any) -> None:
        heard.append((instance.external_id or "", created))

    post_save.connect(listen, sender=Contact, dispatch_uid="test-bulk-announce")
    try:
        shop = partner()
        records = [{"external_id": "a", "first_name": "A"}, {"external_id": "b", "first_name": "B"}]
        shop.post("/api/v1/contacts/bulk/", {"records": records}, format="json")
        assert heard == [("a", True), ("b", True)]
        heard.clear()
        records[1]["first_name"] = "Bea"
        shop.post("/api/v1/contacts/bulk/", {"records": records}, format="json")
        assert heard == [("b", False)]
    finally:
        post_save.disconnect(dispatch_uid="test-bulk-announce", sender=Contact)


def test_a_batch_costs_a_few_queries_not_a_few_per_record(partner: Any) -> None:
    shop = partner()
    batch = [{**FIRST, "attributes": {}, "external_id": f"c{i}", "emails": [{"email": f"c{i}@example.com"}]}
             for i in range(50)]  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        assert shop.post("/api/v1/contacts/bulk/", {"records": batch}, format="json").json()["created"] == 50
    assert len(queries) < 40, len(queries)
    with CaptureQueriesContext(connection) as queries:
        body = shop.post("/api/v1/contacts/bulk/", {"records": [{**r, "stage": "customer"} for r in batch]},
                         format="json").json()  # fmt: skip
    assert body["updated"] == 50 and len(queries) < 40, len(queries)
    assert Contact.objects.filter(stage="customer").count() == 50


def test_bulk_answers_malformed_records_as_the_single_path(partner: Any) -> None:
    """Records the validation fast path leaves to the serializer (crm.api.bulk_validation) get its answers."""
    shop = partner()
    bad: list[dict[str, Any]] = [
        {"first_name": 12.5, "last_name": ["x"]},
        {"first_name": "A", "stage": "LEAD", "preferred_language": "xx"},
        {"first_name": "A" * 101, "job_title": None},
        {"first_name": "A", "emails": [{"email": "no-address"}, {"label": "home"}, "x"]},
        {"first_name": "A", "emails": {"email": "a@example.com"}, "phones": [{"number": "+49 30 21234567", "x": 1}]},
        {"first_name": "A", "consents": [{"channel": "email", "status": "opted_in", "method": "api",
                                          "recorded_at": "yesterday"}]},
        {"first_name": "A", "tags": ["ok", "", "t" * 65], "attributes": ["not", "a", "dict"]},
        {"first_name": "A", "nickname": "Al", "company_external_id": "nobody"},
        {"first_name": "A", "phones": [{"number": "+49 30 21234567", "is_primary": "maybe"}]},
    ]  # fmt: skip
    records = [{**record, "external_id": f"bad-{index}"} for index, record in enumerate(bad)]
    body = shop.post("/api/v1/contacts/bulk/", {"records": records}, format="json").json()
    assert body["failed"] == len(bad), body
    for record, result in zip(records, body["results"], strict=True):
        single = shop.put(f"/api/v1/contacts/by-external-id/{record['external_id']}/", record, format="json").json()
        assert [(e["field"], e["message"], e["code"]) for e in result["errors"]] == [
            (e["field"], e["message"], e["code"]) for e in single["errors"]
        ], (record, result, single)
    assert not Contact.objects.filter(external_id__startswith="bad-").exists()


def test_bulk_stores_awkward_values_as_the_single_path(partner: Any) -> None:
    """Values are sent to the database as array parameters on the bulk path: quotes, commas, braces,
    backslashes, the word NULL and non-ASCII text must arrive as they do one by one."""
    AttributeDefinition.objects.create(key="tier", label="Tier")
    shop = partner()
    record = {
        "first_name": 'Zoë "Q", {x}', "last_name": "NULL", "job_title": "back\\slash", "source": "",
        "emails": [{"email": "zoe@example.com", "label": 'a,"b"'}], "phones": [{"number": "+49 30 21234567"}],
        "consents": [{"channel": "sms", "status": "opted_out", "method": "api", "note": "{}",
                      "recorded_at": "2026-01-31T12:00:00+02:00"}],
        "tags": ["NULL", "a,b"], "attributes": {"tier": 'gold "plus"'},
    }  # fmt: skip
    assert shop.put("/api/v1/contacts/by-external-id/one/", record, format="json").status_code == 201
    body = shop.post("/api/v1/contacts/bulk/", {"records": [{**record, "external_id": "many"}]}, format="json").json()
    assert body["created"] == 1, body
    assert stored("one") == stored("many") and trail("one") == trail("many")
    assert stored("many")["fields"][:2] == ('Zoë "Q", {x}', "NULL")
