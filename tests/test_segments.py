"""Segments: every filter selects exactly the right contacts, bad definitions are refused by key, the admin edits
the filter through form fields, the contact list lists/counts/acts on a segment's members at a constant number of
queries, and freezing keeps a snapshot that later changes do not touch."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import AttributeDefinition, Contact, ContactAnalysis, ContactConsent, Segment, SegmentMember, Tag
from crm.services.records import record_soft_delete
from crm.services.segments import (
    segment_count,
    segment_definition_validate,
    segment_freeze,
    segment_members,
    segment_queryset,
)
from tests.admin_forms import errors_of, form_data, listed
from tests.conftest import days_ago

CONTACTS = "/admin/crm/contact/"
SEGMENTS = "/admin/crm/segment/"
ADD_URL = f"{SEGMENTS}add/"


def names(contacts: Any) -> list[str]:
    return sorted(str(c) for c in contacts)


def analyse(contact: Contact, **fields: Any) -> ContactAnalysis:
    return ContactAnalysis.objects.create(contact=contact, computed_at=timezone.now(), **fields)


def consent(contact: Contact, channel: str, status: str) -> None:
    ContactConsent.objects.create(
        contact=contact, channel=channel, status=status, recorded_at=timezone.now(), method="web_form"
    )


@pytest.fixture
def attributes(db: None) -> None:
    AttributeDefinition.objects.create(key="loyalty_tier", label="Tier", type="choice", choices=["gold", "silver"])
    AttributeDefinition.objects.create(key="shoe_size", label="Shoe size", type="number")
    AttributeDefinition.objects.create(key="newsletter_ok", label="Newsletter", type="boolean")
    AttributeDefinition.objects.create(key="birthday", label="Birthday", type="date")


@pytest.fixture
def crowd(make_contact, attributes, sam, maria) -> dict[str, Contact]:
    """Four alive contacts with distinct stages, tags, owners, figures, attributes and consents, and a deleted
    contact (Eve) that would match almost every filter."""
    vip, newsletter = Tag.objects.create(name="VIP"), Tag.objects.create(name="newsletter")
    anna = make_contact("Anna", "Schmidt", stage="lead", owner=sam)
    anna.attributes = {"loyalty_tier": "gold", "shoe_size": 42, "newsletter_ok": True}
    anna.save(update_fields=["attributes"])
    anna.tags.add(vip)
    analyse(anna, segment="champions", total_spend=Decimal("500.00"), order_count=5,
            last_purchase_at=days_ago(10), last_interaction_at=days_ago(2))  # fmt: skip
    consent(anna, "whatsapp", "opted_in")

    ben = make_contact("Ben", "Müller", stage="prospect", owner=maria)
    ben.attributes = {"loyalty_tier": "silver", "newsletter_ok": False, "birthday": "1990-05-01"}
    ben.save(update_fields=["attributes"])
    ben.tags.add(vip, newsletter)
    analyse(ben, segment="at_risk", total_spend=Decimal("100.00"), order_count=2,
            last_purchase_at=days_ago(100), last_interaction_at=days_ago(40))  # fmt: skip
    consent(ben, "whatsapp", "opted_out")
    consent(ben, "email", "opted_in")

    carla = make_contact("Carla", "Rossi", stage="customer")
    carla.attributes = {"shoe_size": 38}
    carla.save(update_fields=["attributes"])
    carla.tags.add(newsletter)
    analyse(carla, segment="lost", total_spend=Decimal("20.50"), order_count=1, last_purchase_at=days_ago(400))

    dora = make_contact("Dora", "Weber", stage="customer", owner=sam)  # never analysed: no figures at all
    consent(dora, "sms", "opted_in")

    eve = make_contact("Eve", "Deleted", stage="lead", owner=sam)
    eve.attributes = {"loyalty_tier": "gold", "shoe_size": 42, "newsletter_ok": True, "birthday": "1990-05-01"}
    eve.save(update_fields=["attributes"])
    eve.tags.add(vip, newsletter)
    analyse(eve, segment="champions", total_spend=Decimal("100.00"), order_count=9,
            last_purchase_at=days_ago(100), last_interaction_at=days_ago(2))  # fmt: skip
    consent(eve, "whatsapp", "opted_in")
    consent(eve, "email", "opted_in")
    record_soft_delete(record=eve, actor=None)
    return {"anna": anna, "ben": ben, "carla": carla, "dora": dora, "eve": eve}


ANNA, BEN, CARLA, DORA = "Anna Schmidt", "Ben Müller", "Carla Rossi", "Dora Weber"


def resolve(definition: dict[str, Any], people: dict[str, Any]) -> dict[str, Any]:
    """Persona placeholders ("@sam") -> user ids, so parametrised definitions can name owners."""
    swap = lambda v: people[v[1:]].pk if isinstance(v, str) and v.startswith("@") else v  # noqa: E731
    return {k: [swap(x) for x in v] if isinstance(v, list) else swap(v) for k, v in definition.items()}


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ({}, [ANNA, BEN, CARLA, DORA]),
        ({"stages": ["lead"]}, [ANNA]),
        ({"stages": ["customer", "prospect"]}, [BEN, CARLA, DORA]),
        ({"tags_any": ["vip"]}, [ANNA, BEN]),  # by name, any case
        ({"tags_any": ["VIP", "newsletter"]}, [ANNA, BEN, CARLA]),  # Ben has both: listed once
        ({"tags_all": ["VIP", "newsletter"]}, [BEN]),
        ({"owner": "@sam"}, [ANNA, DORA]),
        ({"owners": ["@sam", "@maria"]}, [ANNA, BEN, DORA]),
        ({"rfm_segments": ["champions"]}, [ANNA]),
        ({"rfm_segments": ["at_risk", "lost"]}, [BEN, CARLA]),
        ({"spend_min": "100"}, [ANNA, BEN]),  # inclusive
        ({"spend_max": "100"}, [BEN, CARLA, DORA]),  # inclusive; no analysis row means nothing spent
        ({"spend_min": "0"}, [ANNA, BEN, CARLA, DORA]),
        ({"spend_min": "20.5", "spend_max": "100.00"}, [BEN, CARLA]),
        ({"purchased_within_days": 30}, [ANNA]),
        ({"purchased_within_days": 120}, [ANNA, BEN]),
        ({"not_purchased_for_days": 30}, [BEN, CARLA, DORA]),  # Dora never purchased
        ({"purchased_within_days": 120, "not_purchased_for_days": 30}, [BEN]),  # between 30 and 120 days ago
        ({"interacted_within_days": 7}, [ANNA]),
        ({"not_interacted_for_days": 30}, [BEN, CARLA, DORA]),
        ({"attributes": {"loyalty_tier": "gold"}}, [ANNA]),
        ({"attributes": {"shoe_size": 42}}, [ANNA]),
        ({"attributes": {"shoe_size": "38"}}, [CARLA]),  # typed by its definition
        ({"attributes": {"newsletter_ok": True}}, [ANNA]),
        ({"attributes": {"newsletter_ok": False}}, [BEN]),
        ({"attributes": {"birthday": "1990-05-01"}}, [BEN]),
        ({"attributes": {"loyalty_tier": "silver", "newsletter_ok": False}}, [BEN]),
        ({"consent": {"channel": "whatsapp", "status": "opted_in"}}, [ANNA]),
        ({"consent": {"channel": "whatsapp", "status": "opted_out"}}, [BEN]),
        ({"consent": {"channel": "email"}}, [BEN]),  # status defaults to opted in
        # Combinations AND together.
        ({"stages": ["customer"], "spend_max": "50"}, [CARLA, DORA]),
        ({"tags_any": ["vip"], "rfm_segments": ["at_risk"], "owner": "@maria"}, [BEN]),
        ({"tags_any": ["vip"], "consent": {"channel": "whatsapp"}, "attributes": {"shoe_size": 42}}, [ANNA]),
        ({"stages": ["lead"], "rfm_segments": ["lost"]}, []),
        ({"owners": ["@sam"], "not_purchased_for_days": 5, "consent": {"channel": "sms"}}, [DORA]),
    ],
)
def test_each_filter_selects_exactly_its_contacts(crowd, sam, maria, definition, expected, django_assert_num_queries):
    cleaned = segment_definition_validate(resolve(definition, {"sam": sam, "maria": maria}))
    with django_assert_num_queries(1):  # one SQL query, whatever the filters
        found = list(segment_queryset(cleaned))
    assert names(found) == expected
    assert len({c.pk for c in found}) == len(found)  # no duplicates, without DISTINCT
    assert "DISTINCT" not in str(segment_queryset(cleaned).query)


def test_the_two_recency_filters_split_everyone(crowd):
    """ "Within N days" and "not for N days" partition the contacts: a missing date falls in the second."""
    for days in (1, 30, 365, 1000):
        within = set(segment_queryset({"purchased_within_days": days}))
        not_for = set(segment_queryset({"not_purchased_for_days": days}))
        assert not within & not_for
        assert within | not_for == set(Contact.objects.all())


def test_validation_returns_the_canonical_form(crowd, sam):
    vip = Tag.objects.get(name="VIP")
    cleaned = segment_definition_validate(
        {
            "consent": {"channel": "sms"},
            "tags_any": ["vip", vip.pk],
            "owner": sam.pk,
            "spend_min": 10,
            "attributes": {"shoe_size": "42.0", "newsletter_ok": True},
            "stages": [],
        }
    )
    assert cleaned == {
        "tags_any": [vip.pk],
        "owners": [sam.pk],
        "spend_min": "10",
        "attributes": {"shoe_size": 42, "newsletter_ok": True},
        "consent": {"channel": "sms", "status": "opted_in"},
    }


@pytest.mark.parametrize(
    ("definition", "key", "fragment"),
    [
        ({"stages": ["vip"]}, "stages", "'vip' is not a stage"),
        ({"stages": "lead"}, "stages", "expected a list"),
        ({"rfm_segments": ["whales"]}, "rfm_segments", "'whales' is not an RFM segment"),
        ({"spend_min": "500", "spend_max": "100"}, "spend_min", "500 is more than spend_max 100"),
        ({"spend_min": "lots"}, "spend_min", "expected an amount"),
        ({"spend_max": "-1"}, "spend_max", "cannot be negative"),
        ({"purchased_within_days": -1}, "purchased_within_days", "cannot be negative"),
        ({"not_interacted_for_days": -30}, "not_interacted_for_days", "cannot be negative"),
        ({"interacted_within_days": "soon"}, "interacted_within_days", "whole number of days"),
        ({"purchased_within_days": 30, "not_purchased_for_days": 60}, "not_purchased_for_days", "less than"),
        ({"attributes": {"favourite_colour": "red"}}, "attributes", "favourite_colour: unknown attribute"),
        ({"attributes": {"shoe_size": "big"}}, "attributes", "shoe_size: expected a number"),
        ({"attributes": {"newsletter_ok": "maybe"}}, "attributes", "newsletter_ok: expected true or false"),
        ({"attributes": {"loyalty_tier": "bronze"}}, "attributes", "loyalty_tier: expected one of gold, silver"),
        ({"consent": {"channel": "pigeon"}}, "consent", "unknown channel 'pigeon'"),
        ({"consent": {"channel": "sms", "status": "maybe"}}, "consent", "unknown status 'maybe'"),
        ({"tags_any": ["no such tag"]}, "tags_any", "unknown tag no such tag"),
        ({"owner": 987654}, "owner", "unknown user 987654"),
        ({"colour": "red"}, "colour", "unknown filter"),
    ],
)
def test_invalid_definitions_are_refused_naming_the_key(crowd, definition, key, fragment):
    with pytest.raises(ValidationError) as caught:
        segment_definition_validate(definition)
    assert list(caught.value.message_dict) == [key]
    (message,) = caught.value.message_dict[key]
    assert message.startswith(f"{key}: ")
    assert fragment in message


# --- Members, counts, freezing ---------------------------------------------------------------------------
def test_members_of_dynamic_and_static_segments_are_alive_contacts_only(crowd):
    dynamic = Segment.objects.create(name="Tagged", definition=segment_definition_validate({"tags_any": ["vip"]}))
    static = Segment.objects.create(name="Hand-picked", kind=Segment.Kind.STATIC)
    for contact in (crowd["carla"], crowd["eve"]):
        SegmentMember.objects.create(segment=static, contact=contact)

    assert names(segment_members(dynamic)) == [ANNA, BEN]
    assert segment_count(dynamic) == 2
    assert names(segment_members(static)) == [CARLA]  # Eve is deleted
    assert segment_count(static) == 1

    record_soft_delete(record=crowd["ben"], actor=None)
    assert names(segment_members(dynamic)) == [ANNA]


def test_a_frozen_snapshot_keeps_its_members_when_contacts_change(crowd, make_contact, maria, monkeypatch):
    monkeypatch.setattr("crm.services.segments.FREEZE_BATCH", 2)  # several pages even for a few members
    customers = Segment.objects.create(name="Customers", definition={"stages": ["customer", "prospect"]})

    snapshot = segment_freeze(segment=customers, actor=maria)

    assert snapshot.kind == Segment.Kind.STATIC
    assert snapshot.frozen_from == customers
    assert snapshot.frozen_at is not None
    assert snapshot.owner == maria
    assert snapshot.name.startswith("Customers (snapshot ")
    assert names(segment_members(snapshot)) == [BEN, CARLA, DORA]
    assert SegmentMember.objects.filter(segment=snapshot).count() == 3

    Contact.objects.filter(pk=crowd["carla"].pk).update(stage="churned")  # no longer matches
    make_contact("Finn", "Neu", stage="customer")  # newly matches
    assert names(segment_members(customers)) == [BEN, DORA, "Finn Neu"]
    assert names(segment_members(snapshot)) == [BEN, CARLA, DORA]

    again = segment_freeze(segment=snapshot, name="Copy of the snapshot")  # a snapshot of a snapshot
    assert names(segment_members(again)) == [BEN, CARLA, DORA]
    with pytest.raises(ValidationError) as caught:
        segment_freeze(segment=customers, name="Copy of the snapshot")
    assert "name" in caught.value.message_dict


# --- Admin: the form ---------------------------------------------------------------------------------------
def test_manager_defines_a_segment_through_form_fields(crowd, maria, sam, login):
    vip = Tag.objects.get(name="VIP")
    client = login(maria)
    data = form_data(client, ADD_URL)
    assert not {"definition", "kind"} & set(data)  # no raw JSON to type, and new segments are dynamic
    data.update(
        name="VIP customers on WhatsApp",
        stages=["customer", "lead"],
        tags_any=[str(vip.pk)],
        owners=[str(sam.pk)],
        rfm_segments=["champions", "loyal"],
        spend_min="10",
        spend_max="1000.50",
        purchased_within_days="90",
        not_interacted_for_days="30",
        attributes="loyalty_tier = gold\n\nnewsletter_ok=yes\nshoe_size=42",
        consent_channel="whatsapp",
        consent_status="opted_in",
    )

    response = client.post(ADD_URL, data)

    assert response.status_code == 302, errors_of(response)
    segment = Segment.objects.get(name="VIP customers on WhatsApp")
    expected = {
        "stages": ["lead", "customer"],  # canonical: in the choices' order
        "tags_any": [vip.pk],
        "owners": [sam.pk],
        "rfm_segments": ["champions", "loyal"],
        "spend_min": "10",
        "spend_max": "1000.50",
        "purchased_within_days": 90,
        "not_interacted_for_days": 30,
        "attributes": {"loyalty_tier": "gold", "newsletter_ok": True, "shoe_size": 42},
        "consent": {"channel": "whatsapp", "status": "opted_in"},
    }
    assert segment.definition == expected
    assert segment.kind == Segment.Kind.DYNAMIC
    assert segment.owner == maria

    # The change page shows the same filter in its fields: saving it unchanged changes nothing.
    change_url = f"{SEGMENTS}{segment.pk}/change/"
    response = client.post(change_url, form_data(client, change_url))
    assert response.status_code == 302, errors_of(response)
    segment.refresh_from_db()
    assert segment.definition == expected


def test_the_form_puts_each_error_on_its_field(crowd, maria, login):
    client = login(maria)
    data = form_data(client, ADD_URL)
    data.update(
        name="Broken",
        spend_min="500",
        spend_max="100",
        purchased_within_days="-3",
        attributes="favourite_colour=red\nshoe_size=big",
    )

    response = client.post(ADD_URL, data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"spend_min", "purchased_within_days", "attributes"}, errors
    assert "500 is more than spend_max 100" in errors["spend_min"][0]
    assert errors["purchased_within_days"] == ["cannot be negative"]
    assert "favourite_colour: unknown attribute" in errors["attributes"][0]
    assert "shoe_size: expected a number" in errors["attributes"][0]
    assert not Segment.objects.exists()

    data.update(spend_min="", spend_max="", purchased_within_days="", attributes="just words")
    response = client.post(ADD_URL, data)
    assert response.status_code == 200
    assert "Line 1: write key=value" in response.context["adminform"].form.errors["attributes"][0]


# --- Admin: members on the contact list ------------------------------------------------------------------
def test_contact_list_filtered_by_segment_lists_and_counts_the_members(crowd, sam, login):
    dynamic = Segment.objects.create(name="Tagged", definition=segment_definition_validate({"tags_any": ["vip"]}))
    static = segment_freeze(segment=Segment.objects.create(name="Customers", definition={"stages": ["customer"]}))
    client = login(sam)  # agents may look at segments and their members

    for segment, expected in ((dynamic, [ANNA, BEN]), (static, [CARLA, DORA])):
        response = client.get(f"{CONTACTS}?segment={segment.pk}")
        assert response.status_code == 200
        assert names(response.context["cl"].result_list) == expected
        assert response.context["cl"].result_count == len(expected)
    assert listed(client, f"{CONTACTS}?segment=987654") == []  # a deleted segment's link lists nobody
    assert listed(client, f"{CONTACTS}?segment={dynamic.pk}&stage__exact=prospect") == [crowd["ben"]]


def test_select_all_on_the_filtered_list_acts_on_exactly_the_members(crowd, maria, login):
    """What "export a segment" rides on: with "select all", an action gets the filtered list's queryset."""
    segment = Segment.objects.create(name="Tagged", definition=segment_definition_validate({"tags_any": ["vip"]}))
    client = login(maria)

    response = client.post(
        f"{CONTACTS}?segment={segment.pk}",
        {"action": "change_stage", "select_across": "1", "index": "0", "stage": "churned",
         "_selected_action": [crowd["anna"].pk]},
        follow=True,
    )  # fmt: skip

    assert "2 contact(s) moved to Churned" in response.content.decode()
    assert names(Contact.objects.filter(stage="churned")) == [ANNA, BEN]


def exported_ids(response: Any) -> list[int]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return sorted(int(row["id"]) for row in csv.DictReader(io.StringIO(text)))


def test_a_segment_exports_from_the_filtered_contact_list(crowd, sam, login):
    segment = Segment.objects.create(name="Tagged", definition=segment_definition_validate({"tags_any": ["vip"]}))

    response = login(sam).post(
        f"{CONTACTS}?segment={segment.pk}",
        {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": [crowd["anna"].pk]},
    )

    assert exported_ids(response) == sorted([crowd["anna"].pk, crowd["ben"].pk])


def test_segments_export_their_members_from_the_segment_list(crowd, sam, login):
    tagged = Segment.objects.create(name="Tagged", definition=segment_definition_validate({"tags_any": ["vip"]}))
    frozen = segment_freeze(segment=Segment.objects.create(name="Prospects", definition={"stages": ["prospect"]}))
    client = login(sam)
    ids = {name: crowd[name].pk for name in ("anna", "ben")}

    response = client.post(SEGMENTS, {"action": "export_members_csv", "_selected_action": [tagged.pk], "index": "0"})
    assert exported_ids(response) == sorted(ids.values())

    # Two segments sharing Ben: the contacts in either, each once.
    both = {"action": "export_members_csv", "_selected_action": [tagged.pk, frozen.pk], "index": "0"}
    assert exported_ids(client.post(SEGMENTS, both)) == sorted(ids.values())

    response = client.post(SEGMENTS, {**both, "action": "export_members_xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")


def _people(make_contact: Any, tag: Tag, count: int) -> None:
    for i in range(count):
        contact = make_contact("Member", f"No{i:02}", stage="customer")
        contact.tags.add(tag)
        analyse(contact, segment="loyal", total_spend=Decimal(i), last_purchase_at=days_ago(i))
    make_contact("Not", "Member")


def _queries(client: Any, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), len(response.context["cl"].result_list)


@pytest.mark.parametrize("kind", ["dynamic", "static"])
def test_the_filtered_contact_list_does_not_query_per_row(make_contact, ada, login, kind):
    client = login(ada)
    counts = {}
    for size in (5, 30):
        tag = Tag.objects.create(name=f"group {size}")
        _people(make_contact, tag, size)
        segment = Segment.objects.create(name=f"Group {size}", definition={"tags_any": [tag.pk], "spend_max": "100"})
        if kind == "static":
            segment = segment_freeze(segment=segment)
        queries, rows = _queries(client, f"{CONTACTS}?segment={segment.pk}")
        assert rows == size
        counts[size] = queries
    assert counts[5] == counts[30], counts


def test_the_segment_list_shows_counts_without_a_query_per_row(crowd, ada, login):
    client = login(ada)
    counts = []
    for batch in range(2):
        for i in range(3):
            dynamic = Segment.objects.create(name=f"Dynamic {batch}{i}", definition={"stages": ["customer"]})
            segment_freeze(segment=dynamic, name=f"Static {batch}{i}")
        counts.append(_queries(client, SEGMENTS))
    assert counts[0][1] == 6 and counts[1][1] == 12
    assert counts[0][0] == counts[1][0], counts

    response = client.get(SEGMENTS)
    static = Segment.objects.get(name="Static 00")
    row = re.search(rf'href="/admin/crm/segment/{static.pk}/change/.*?</tr>', response.content.decode(), re.S)
    assert row is not None
    assert '<td class="field-member_count">2</td>' in row.group(0)  # Carla and Dora
    assert "dynamic — see members" in response.content.decode()
    assert f'href="{CONTACTS}?segment={static.pk}"' in response.content.decode()


def test_the_change_page_shows_the_count_and_the_first_twenty(make_contact, maria, login):
    tag = Tag.objects.create(name="fair")
    for i in range(25):
        make_contact("Visitor", f"No{i:02}").tags.add(tag)
    segment = Segment.objects.create(name="Fair visitors", definition={"tags_any": [tag.pk]})

    content = login(maria).get(f"{SEGMENTS}{segment.pk}/change/").content.decode()

    assert "25 member(s)" in content
    shown = re.findall(r'<li><a href="/admin/crm/contact/(\d+)/change/">Visitor No(\d\d)</a></li>', content)
    assert [n for _, n in shown] == [f"{i:02}" for i in range(20)]
    assert f'href="{CONTACTS}?segment={segment.pk}"' in content


# --- Admin: freezing and who may do what ----------------------------------------------------------------
def test_manager_freezes_a_snapshot_from_the_segment_list(crowd, maria, login):
    segment = Segment.objects.create(name="Customers", definition={"stages": ["customer"]})

    response = login(maria).post(
        SEGMENTS, {"action": "freeze", "_selected_action": [segment.pk], "index": "0"}, follow=True
    )

    snapshot = Segment.objects.get(frozen_from=segment)
    assert "Froze “Customers”: 2 member(s) in" in response.content.decode()
    assert snapshot.kind == Segment.Kind.STATIC
    assert snapshot.owner == maria
    assert names(segment_members(snapshot)) == [CARLA, DORA]
    # The snapshot's filter is kept for reference but cannot be edited.
    content = login(maria).get(f"{SEGMENTS}{snapshot.pk}/change/").content.decode()
    assert re.search(r'<select name="stages"[^>]*disabled', content)


def test_deleting_a_snapshot_keeps_its_contacts(crowd, maria, login):
    snapshot = segment_freeze(segment=Segment.objects.create(name="Customers", definition={"stages": ["customer"]}))
    client = login(maria)
    delete_url = f"{SEGMENTS}{snapshot.pk}/delete/"

    assert "a frozen list of 2 contact(s); the contacts stay" in client.get(delete_url).content.decode()
    assert client.post(delete_url, {"post": "yes"}).status_code == 302

    assert not Segment.objects.filter(pk=snapshot.pk).exists()
    assert not SegmentMember.objects.exists()
    assert names(Contact.objects.all()) == [ANNA, BEN, CARLA, DORA]


@pytest.mark.parametrize(("persona", "manages"), [("ada", True), ("maria", True), ("sam", False), ("rita", False)])
def test_managers_and_administrators_manage_segments_agents_and_read_only_view(request, crowd, login, persona, manages):
    segment = Segment.objects.create(name="Customers", definition={"stages": ["customer"]})
    client = login(request.getfixturevalue(persona))

    assert client.get(SEGMENTS).status_code == 200
    assert client.get(f"{SEGMENTS}{segment.pk}/change/").status_code == 200
    assert client.get(f"{CONTACTS}?segment={segment.pk}").status_code == 200
    assert client.get(ADD_URL).status_code == (200 if manages else 403)
    assert ('<option value="freeze">' in client.get(SEGMENTS).content.decode()) is manages
    client.post(SEGMENTS, {"action": "freeze", "_selected_action": [segment.pk], "index": "0"})
    assert Segment.objects.filter(frozen_from=segment).exists() is manages
