"""The contact list: search, filters, bulk actions, soft deletion, and no query per row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Company, Contact, Interaction, Product, Tag
from crm.services.purchases import LineInput, order_create
from tests.admin_forms import listed

CONTACTS = "/admin/crm/contact/"


def names(objects: list) -> list[str]:
    return sorted(str(o) for o in objects)


@pytest.fixture
def people(make_contact, acme):
    return {
        "anna": make_contact("Anna", "Schmidt", email="Anna.Schmidt@acme.example", phone="+14155550123", company=acme),
        "ben": make_contact("Ben", "Müller", email="ben@post.example", phone="+4930901820"),
        "carla": make_contact("Carla", "Rossi", email="carla@post.example", stage="customer"),
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("anna.schmidt@ACME.example", ["Anna Schmidt"]),  # exact address, any case
        ("schmidt@acme", []),  # an address is matched exactly, not as a fragment
        ("(415) 555-0123", ["Anna Schmidt"]),  # any phone format, matched in E.164
        ("030 901820", []),  # without country code it is read in the default region (US): no match
        ("+49 30 901820", ["Ben Müller"]),
        ("müll", ["Ben Müller"]),  # name fragment
        ("ROSSI", ["Carla Rossi"]),
        ("anna schm", ["Anna Schmidt"]),  # several words: all must match
        ("acme", ["Anna Schmidt"]),  # company name
        ("nobody", []),
    ],
)
def test_search_by_email_phone_name_and_company(ada, login, people, term, expected, settings):
    settings.PHONE_DEFAULT_REGION = "US"
    assert names(listed(login(ada), f"{CONTACTS}?{urlencode({'q': term})}")) == expected


def test_filters_by_stage_owner_and_tag(ada, sam, login, people):
    vip = Tag.objects.create(name="vip")
    people["ben"].tags.add(vip)
    Contact.objects.filter(pk=people["anna"].pk).update(owner=sam)
    client = login(ada)
    assert names(listed(client, f"{CONTACTS}?stage__exact=customer")) == ["Carla Rossi"]
    assert names(listed(client, f"{CONTACTS}?owner__id__exact={sam.pk}")) == ["Anna Schmidt"]
    assert names(listed(client, f"{CONTACTS}?tags__id__exact={vip.pk}")) == ["Ben Müller"]


def bulk(client, action: str, contacts: list[Contact], **extra: str):
    return client.post(CONTACTS, {"action": action, "_selected_action": [c.pk for c in contacts], **extra}, follow=True)


def test_bulk_assign_owner_add_tag_and_change_stage(sam, maria, login, people):
    client = login(sam)
    anna, ben = people["anna"], people["ben"]

    response = bulk(client, "assign_owner", [anna, ben], owner=str(maria.pk))
    assert "2 contact(s) now owned by" in response.content.decode()
    response = bulk(client, "add_tag", [anna, ben], tag="  Spring  Fair ")
    assert "Tag “Spring Fair” added to 2 contact(s)" in response.content.decode()
    response = bulk(client, "change_stage", [ben], stage="customer")
    assert "1 contact(s) moved to Customer" in response.content.decode()

    for contact in (anna, ben):
        contact.refresh_from_db()
        assert contact.owner == maria
        assert [t.name for t in contact.tags.all()] == ["Spring Fair"]
    assert (anna.stage, ben.stage) == ("lead", "customer")
    assert people["carla"].tags.count() == 0  # not selected, not touched


def test_bulk_action_without_its_input_explains_and_changes_nothing(sam, login, people):
    response = bulk(login(sam), "assign_owner", [people["anna"]])
    assert "Choose an owner in the Owner box" in response.content.decode()
    people["anna"].refresh_from_db()
    assert people["anna"].owner is None


def test_read_only_staff_get_no_bulk_actions(rita, login, people):
    response = bulk(login(rita), "change_stage", [people["anna"]], stage="churned")
    people["anna"].refresh_from_db()
    assert people["anna"].stage == "lead"
    assert response.status_code in (200, 403)


def test_a_deleted_contact_disappears_everywhere_and_can_be_restored(maria, login, people, acme):
    client = login(maria)
    anna = people["anna"]
    response = client.post(f"/admin/crm/contact/{anna.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302

    assert "Anna Schmidt" not in names(listed(client, CONTACTS))
    assert names(listed(client, f"{CONTACTS}?q=anna.schmidt@acme.example")) == []
    assert client.get(f"/admin/crm/contact/{anna.pk}/change/").status_code == 302  # "doesn't exist" redirect
    assert list(acme.contacts.all()) == []
    autocomplete = client.get(
        "/admin/autocomplete/",
        {"term": "anna", "app_label": "crm", "model_name": "interaction", "field_name": "contact"},
    )
    assert autocomplete.json()["results"] == []

    kept = Contact.all_objects.get(pk=anna.pk)
    assert kept.deleted_by == maria and kept.deleted_at is not None
    assert names(listed(client, "/admin/crm/deletedcontact/")) == ["Anna Schmidt"]
    client.post("/admin/crm/deletedcontact/", {"action": "restore", "_selected_action": [anna.pk]})
    assert "Anna Schmidt" in names(listed(client, CONTACTS))


def test_customer_text_is_escaped_in_the_list_and_the_record(ada, login, make_contact):
    contact = make_contact("<script>alert(1)</script>", "<b>Bold</b>")
    client = login(ada)
    for url in (CONTACTS, f"/admin/crm/contact/{contact.pk}/change/", f"/admin/crm/contact/{contact.pk}/history/"):
        page = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in page, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url


# --- No query per row -----------------------------------------------------------------------------------


def make_rows(n: int) -> None:
    products = [Product.objects.create(name=f"P{i}", sku=f"SKU-{n}-{i}", price=Decimal("10")) for i in range(2)]
    tags = [Tag.objects.create(name=f"t{n}-{i}") for i in range(2)]
    for i in range(n):
        company = Company.objects.create(name=f"Company {n}-{i}")
        company.tags.set(tags)
        contact = Contact.objects.create(first_name=f"C{i}", last_name="X", company=company)
        contact.emails.create(email=f"c{n}-{i}@example.com")
        contact.phones.create(number=f"+1415555{i:04d}")
        contact.tags.set(tags)
        Interaction.objects.create(
            kind="call", contact=contact, company=company, subject="s", occurred_at=timezone.now()
        )
        order_create(
            number=f"O-{n}-{i}",
            contact=contact,
            company=company,
            ordered_at=timezone.now() - dt.timedelta(days=i),
            lines=[LineInput(products[0], 1), LineInput(products[1], 2)],
        )


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "url", ["/admin/crm/contact/", "/admin/crm/company/", "/admin/crm/interaction/", "/admin/crm/order/"]
)
def test_changelists_issue_the_same_queries_for_5_and_50_rows(ada, login, url, django_db_blocker):
    client = login(ada)
    make_rows(5)
    count_queries(client, url)  # warm caches (content types, sessions)
    with_5 = count_queries(client, url)
    make_rows(45)
    listed_rows = len(listed(client, url))
    with_50 = count_queries(client, url)
    assert listed_rows == 50
    assert with_50 == with_5, f"{url}: {with_5} queries for 5 rows, {with_50} for 50"
