"""Interactions as a synced, writable resource: Paul's shop pushes the calls, e-mails, meetings, notes and tasks
logged in its own system by external id (single and bulk), deletes them, and learns about deletions made
anywhere (the API, the admin, a contact erased for good) from the deletions feed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from auditlog.models import LogEntry
from django.test import Client
from django.utils import timezone

from crm.models import ApiKey, Contact, Interaction, InteractionTombstone, User, WebhookDelivery
from crm.services.merge import contacts_merge
from crm.tasks import purge_tombstones
from tests.api.conftest import problem
from tests.api.webhooks_support import (  # noqa: F401 - fixtures
    PARTNER_SCOPES,
    HookTasks,
    Receiver,
    client_for,
    hooks_fixture,
    olga_fixture,
    receiver_fixture,
    subscribe,
)

WRITE = ["interactions:write"]
CALL = {
    "kind": "call",
    "direction": "outbound",
    "subject": "Renewal call",
    "occurred_at": "2026-03-01T10:00:00Z",
    "duration": "00:12:30",
    "outcome": "connected",
    "contact_external_id": "cust-1",
}


def test_partner_logs_a_call_by_external_id_then_updates_it(
    partner: Any, make_contact: Any, acme: Any, sam: User, paul: User
) -> None:
    anna = make_contact("Anna", external_id="cust-1")
    acme.external_id = "org-7"
    acme.save()
    shop = partner(WRITE)
    url = "/api/v1/interactions/by-external-id/CALL-1/"

    created = shop.put(url, {**CALL, "company_external_id": "org-7", "staff": sam.pk}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["external_id"], body["kind"], body["contact"], body["company"], body["staff"]) == (
        "CALL-1", "call", anna.pk, acme.pk, sam.pk,
    )  # fmt: skip
    assert (body["duration"], body["outcome"], body["done"], body["done_at"]) == ("00:12:30", "connected", False, None)
    assert "contact_external_id" not in body and created["ETag"]
    assert shop.get(url).json() == body == shop.get(f"/api/v1/interactions/{body['id']}/").json()
    assert shop.get("/api/v1/interactions/?external_id=CALL-1").json()["results"] == [body]

    # Fields left out stay; the contact may be named by id too.
    changed = shop.put(url, {"outcome": "voicemail", "contact": anna.pk}, format="json")
    assert changed.status_code == 200 and changed["ETag"] != created["ETag"]
    assert (changed.json()["outcome"], changed.json()["subject"], changed.json()["id"]) == (
        "voicemail", "Renewal call", body["id"],
    )  # fmt: skip
    assert Interaction.objects.count() == 1

    # A task marked done records when; audited with the partner as actor and its key as origin.
    task = {"kind": "task", "subject": "Send quote", "occurred_at": "2026-03-01T10:00:00Z", "contact": anna.pk}
    task_url = "/api/v1/interactions/by-external-id/TASK-1/"
    due = shop.put(task_url, {**task, "due_at": "2026-03-05T10:00:00Z"}, format="json")
    assert due.status_code == 201, due.content
    done = shop.put(task_url, {"done": True}, format="json").json()
    assert done["done"] is True and done["done_at"]
    history = LogEntry.objects.get_for_object(Interaction.objects.get(external_id="CALL-1"))
    assert history.count() == 2 and {entry.actor_id for entry in history} == {paul.pk}
    assert {(entry.additional_data or {}).get("api_key_id") for entry in history} == {ApiKey.objects.get().pk}


def test_bad_interactions_are_refused_naming_the_field(partner: Any, make_contact: Any, paul: User) -> None:
    make_contact("Anna", external_id="cust-1")
    gone = make_contact("Gone", external_id="cust-gone")
    gone.deleted_at = timezone.now()
    gone.save()
    shop = partner(WRITE)
    url = "/api/v1/interactions/by-external-id/X-1/"

    def refused(changes: dict[str, Any]) -> list[str]:
        return [e["field"] for e in problem(shop.put(url, {**CALL, **changes}, format="json"), 400)["errors"]]

    assert refused({"contact_external_id": "ghost"}) == ["contact_external_id"]
    assert refused({"contact_external_id": "cust-gone"}) == ["contact_external_id"]  # deleted contacts too
    assert refused({"company_external_id": "ghost"}) == ["company_external_id"]
    assert refused({"contact_external_id": None, "contact": 999_999}) == ["contact"]
    assert refused({"contact_external_id": None}) == ["contact"]  # neither contact nor company
    assert refused({"kind": "fax"}) == ["kind"]
    assert refused({"direction": "sideways"}) == ["direction"]
    assert refused({"staff": paul.pk}) == ["staff"]  # not a staff member
    assert refused({"due_at": "2026-03-05T10:00:00Z"}) == ["due_at"]  # only tasks have one
    assert refused({"duration": "-00:05:00"}) == ["duration"]
    assert refused({"mood": "happy"}) == ["mood"]  # unknown fields are not dropped silently
    assert refused({"external_id": "X-2"}) == ["external_id"]  # differs from the URL
    kindless = problem(shop.put(url, {"contact_external_id": "cust-1"}, format="json"), 400)
    assert {e["field"] for e in kindless["errors"]} == {"kind", "occurred_at"}
    assert not Interaction.objects.exists()


def test_idempotent_replay_and_a_reused_key(partner: Any, make_contact: Any) -> None:
    make_contact("Anna", external_id="cust-1")
    shop = partner(WRITE)
    url = "/api/v1/interactions/by-external-id/CALL-1/"
    first = shop.put(url, CALL, format="json", HTTP_IDEMPOTENCY_KEY="call-1")
    again = shop.put(url, CALL, format="json", HTTP_IDEMPOTENCY_KEY="call-1")
    assert first.status_code == again.status_code == 201  # the stored answer, not "updated"
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    reused = shop.put(url, {**CALL, "subject": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="call-1")
    assert problem(reused, 422)["type"].endswith("idempotency_key_reused")
    assert list(Interaction.objects.values_list("subject", flat=True)) == ["Renewal call"]


def test_stale_if_match_is_refused_on_update_and_delete(partner: Any, make_contact: Any) -> None:
    make_contact("Anna", external_id="cust-1")
    shop, colleague = partner(WRITE), partner(WRITE)
    url = "/api/v1/interactions/by-external-id/CALL-1/"
    etag = shop.put(url, CALL, format="json")["ETag"]
    changed = colleague.put(url, {"outcome": "voicemail"}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200

    stale = shop.put(url, {"outcome": "no answer"}, format="json", HTTP_IF_MATCH=etag)
    assert problem(stale, 412)["current_etag"] == changed["ETag"]
    record = f"/api/v1/interactions/{changed.json()['id']}/"
    problem(shop.delete(record, HTTP_IF_MATCH=etag), 412)
    problem(shop.put("/api/v1/interactions/by-external-id/NEW/", CALL, format="json", HTTP_IF_MATCH=etag), 412)
    assert list(Interaction.objects.values_list("outcome", flat=True)) == ["voicemail"]

    assert shop.delete(record, HTTP_IF_MATCH=changed["ETag"]).status_code == 204
    assert not Interaction.objects.exists()
    problem(shop.get(record), 404)
    problem(shop.delete(record), 404)


def test_bulk_answers_per_record_and_keeps_the_good_ones(partner: Any, make_contact: Any) -> None:
    make_contact("Anna", external_id="cust-1")
    shop = partner(WRITE)
    records = [
        {**CALL, "external_id": "B-1"},
        {**CALL, "external_id": "B-2", "contact_external_id": "ghost"},
        {**CALL, "subject": "No key"},
        {**CALL, "external_id": "B-1", "subject": "Twice"},
        {**CALL, "external_id": "B-3", "kind": "note", "direction": "", "duration": None},
    ]
    response = shop.post("/api/v1/interactions/bulk/", {"records": records}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["updated"], body["failed"]) == (2, 0, 3)
    assert [r["status"] for r in body["results"]] == ["created", "error", "error", "error", "created"]
    assert [r["errors"][0]["field"] for r in body["results"] if r["status"] == "error"] == [
        "contact_external_id", "external_id", "external_id",
    ]  # fmt: skip
    assert set(Interaction.objects.values_list("external_id", flat=True)) == {"B-1", "B-3"}

    update = {"records": [{"external_id": "B-1", "outcome": "x"}]}
    again = shop.post("/api/v1/interactions/bulk/", update, format="json").json()
    assert again["results"][0]["status"] == "updated"
    assert again["results"][0]["id"] == Interaction.objects.get(external_id="B-1").pk
    too_many = {"records": [{**CALL, "external_id": f"M-{i}"} for i in range(501)]}
    problem(shop.post("/api/v1/interactions/bulk/", too_many, format="json"), 413)


def test_writing_needs_the_write_scope(partner: Any, make_contact: Any) -> None:
    anna = make_contact("Anna", external_id="cust-1")
    existing = Interaction.objects.create(kind="note", contact=anna, occurred_at=timezone.now(), external_id="N-1")
    reader = partner(["interactions:read"])
    assert reader.get("/api/v1/interactions/").status_code == 200
    assert reader.get("/api/v1/interactions/deletions/").status_code == 200
    url = "/api/v1/interactions/by-external-id/CALL-1/"
    assert "interactions:write" in problem(reader.put(url, CALL, format="json"), 403)["detail"]
    problem(reader.post("/api/v1/interactions/bulk/", {"records": [{**CALL, "external_id": "B"}]}, format="json"), 403)
    problem(reader.delete(f"/api/v1/interactions/{existing.pk}/"), 403)
    stranger = partner(["contacts:write"])
    problem(stranger.get("/api/v1/interactions/"), 403)
    problem(stranger.get("/api/v1/interactions/deletions/"), 403)
    assert list(Interaction.objects.all()) == [existing]


def test_deletions_made_anywhere_appear_in_the_feed(
    partner: Any, make_contact: Any, ada: User, login: Any, settings: Any
) -> None:
    anna, erased = make_contact("Anna", external_id="cust-1"), make_contact("Erased")
    at = timezone.now()
    by_api = Interaction.objects.create(kind="call", contact=anna, occurred_at=at, external_id="API-1")
    by_admin = Interaction.objects.create(kind="note", contact=anna, occurred_at=at, external_id="ADM-1")
    by_action = Interaction.objects.create(kind="note", contact=anna, occurred_at=at)
    cascaded = Interaction.objects.create(kind="email", contact=erased, occurred_at=at, external_id="ERASED-1")
    kept = Interaction.objects.create(kind="meeting", contact=anna, occurred_at=at, external_id="KEPT-1")
    shop = partner(WRITE)
    assert shop.get("/api/v1/interactions/deletions/").json()["results"] == []

    assert shop.delete(f"/api/v1/interactions/{by_api.pk}/").status_code == 204
    admin = login(ada)
    assert admin.post(f"/admin/crm/interaction/{by_admin.pk}/delete/", {"post": "yes"}).status_code == 302
    action = {"action": "delete_selected", "_selected_action": [by_action.pk], "post": "yes"}
    assert admin.post("/admin/crm/interaction/", action).status_code == 302
    # A contact erased for good (contacts are normally only soft-deleted) takes its interactions with it.
    Contact.all_objects.filter(pk=erased.pk).delete()

    feed = shop.get("/api/v1/interactions/deletions/")
    assert feed.status_code == 200, feed.content
    tombstones = feed.json()["results"]
    assert [(t["id"], t["external_id"]) for t in tombstones] == [
        (by_api.pk, "API-1"), (by_admin.pk, "ADM-1"), (by_action.pk, None), (cascaded.pk, "ERASED-1"),
    ]  # fmt: skip
    assert all(t["deleted_at"] and t["merged_into"] is None for t in tombstones)
    assert [r["id"] for r in shop.get("/api/v1/interactions/").json()["results"]] == [kept.pk]

    # Paged and filtered by time like the other feeds.
    first = shop.get("/api/v1/interactions/deletions/?limit=3").json()
    rest = shop.get(f"/api/v1/interactions/deletions/?limit=3&cursor={first['next_cursor']}").json()
    assert first["has_more"] and [t["id"] for t in first["results"] + rest["results"]] == [t["id"] for t in tombstones]
    InteractionTombstone.objects.filter(pk__in=[by_api.pk, by_admin.pk]).update(deleted_at=at - dt.timedelta(days=3))
    since = (at - dt.timedelta(days=1)).isoformat()
    recent = shop.get("/api/v1/interactions/deletions/", {"since": since}).json()["results"]
    assert [t["id"] for t in recent] == [by_action.pk, cascaded.pk]

    # Kept API_TOMBSTONE_RETENTION_DAYS days: older ones are not served, then purged by the daily task.
    settings.API_TOMBSTONE_RETENTION_DAYS = 2
    assert [t["id"] for t in shop.get("/api/v1/interactions/deletions/").json()["results"]] == [
        by_action.pk, cascaded.pk,
    ]  # fmt: skip
    expired = (at - dt.timedelta(days=5)).isoformat()
    assert "full sync" in problem(shop.get("/api/v1/interactions/deletions/", {"since": expired}), 410)["detail"]
    problem(shop.get("/api/v1/interactions/deletions/", {"since": "yesterday"}), 400)
    assert purge_tombstones() == 2
    assert sorted(InteractionTombstone.objects.values_list("pk", flat=True)) == sorted([by_action.pk, cascaded.pk])


def test_sync_lists_in_change_order_and_a_merge_moves_interactions_without_deleting(
    partner: Any, make_contact: Any
) -> None:
    anna, twin = make_contact("Anna", external_id="cust-1"), make_contact("Anna", external_id="cust-2")
    shop = partner(WRITE)
    for key in ("S-1", "S-2", "S-3"):
        assert shop.put(f"/api/v1/interactions/by-external-id/{key}/", CALL, format="json").status_code == 201
    page = shop.get("/api/v1/interactions/?limit=2").json()
    assert [r["external_id"] for r in page["results"]] == ["S-1", "S-2"] and page["has_more"]

    # Changed while the partner pulls: it comes again after the records it has not seen, nothing repeats.
    shop.put("/api/v1/interactions/by-external-id/S-1/", {"outcome": "voicemail"}, format="json")
    rest = shop.get(f"/api/v1/interactions/?cursor={page['next_cursor']}").json()
    assert [(r["external_id"], r["outcome"]) for r in rest["results"]] == [("S-3", "connected"), ("S-1", "voicemail")]

    # A merge moves the twin's interactions to the survivor: they sync again with the new contact, no tombstone.
    moved = shop.put(
        "/api/v1/interactions/by-external-id/T-1/", {**CALL, "contact_external_id": "cust-2"}, format="json"
    )
    assert moved.status_code == 201, moved.content
    cursor = shop.get(f"/api/v1/interactions/?cursor={rest['next_cursor']}").json()["next_cursor"]
    contacts_merge(survivor=anna, others=[twin])
    after = shop.get(f"/api/v1/interactions/?cursor={cursor}").json()["results"]
    assert [(r["external_id"], r["contact"]) for r in after] == [("T-1", anna.pk)]
    assert shop.get("/api/v1/interactions/deletions/").json()["results"] == []


def test_partners_hear_of_interactions_pushed_by_others_but_not_their_own(
    paul: User, olga: User, receiver: Receiver, hooks: HookTasks, make_contact: Any
) -> None:
    make_contact("Anna", external_id="cust-1")
    events = ["interaction.created", "interaction.updated", "interaction.deleted"]
    shop, _ = client_for(paul, [*PARTNER_SCOPES, "interactions:write"])
    subscribe(shop, receiver, events)
    marketing, _ = client_for(olga, [*PARTNER_SCOPES, "interactions:read"])
    olgas = subscribe(marketing, receiver, events)

    created = shop.put("/api/v1/interactions/by-external-id/CALL-1/", CALL, format="json").json()
    hooks.run()
    assert shop.delete(f"/api/v1/interactions/{created['id']}/").status_code == 204
    hooks.run()
    assert receiver.events() == ["interaction.created", "interaction.deleted"]
    assert {r.json()["data"]["external_id"] for r in receiver.received} == {"CALL-1"}
    assert all(r.verified for r in receiver.received)
    assert {d.subscription_id for d in WebhookDelivery.objects.all()} == {olgas["id"]}


def test_schema_documents_the_interaction_endpoints(db: None) -> None:
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    upsert = paths["/api/v1/interactions/by-external-id/{external_id}/"]["put"]
    assert {"If-Match", "Idempotency-Key"} <= {p["name"] for p in upsert["parameters"]}
    assert {"200", "201", "400", "403", "412"} <= set(upsert["responses"])
    assert {"200", "403", "413"} <= set(paths["/api/v1/interactions/bulk/"]["post"]["responses"])
    assert {"204", "412"} <= set(paths["/api/v1/interactions/{id}/"]["delete"]["responses"])
    deletions = paths["/api/v1/interactions/deletions/"]["get"]
    assert "410" in deletions["responses"] and "since" in {p["name"] for p in deletions["parameters"]}
    assert upsert["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/InteractionRequest")
    written = schema["components"]["schemas"]["InteractionRequest"]["properties"]
    assert {"external_id", "kind", "contact", "contact_external_id", "company_external_id", "staff"} <= set(written)
    assert "external_id" in schema["components"]["schemas"]["Interaction"]["properties"]
