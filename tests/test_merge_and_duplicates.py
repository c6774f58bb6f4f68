"""Duplicates are found with their reason; merging moves every related row onto the survivor, atomically."""

from __future__ import annotations

from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm import merge as merge_registry
from crm.models import (
    Company,
    Contact,
    ContactAnalysis,
    ContactConsent,
    ContactEmail,
    ContactPhone,
    Interaction,
    Order,
    Segment,
    SegmentMember,
    Tag,
)
from crm.services.merge import companies_merge, contacts_merge
from crm.services.purchases import LineInput, order_create
from tests.admin_forms import listed
from tests.conftest import days_ago


@pytest.fixture
def trio(make_contact, acme, backpack):
    """Three records of one person, each with its own related rows."""
    vip, news = Tag.objects.create(name="vip"), Tag.objects.create(name="news")
    keep = make_contact("Anna", "Schmidt", email="anna@work.example", phone="+14155550123", job_title="", attributes={})
    dup1 = make_contact(
        "Anna",
        "Schmidt",
        email="anna@work.example",
        phone="+14155550199",
        company=acme,
        job_title="Buyer",
        external_id="shop-7",
    )
    dup2 = make_contact("A.", "Schmidt", email="anna@home.example")
    keep.tags.add(vip)
    dup1.tags.add(vip, news)
    ContactConsent.objects.create(
        contact=keep, channel="email", status="opted_in", recorded_at=days_ago(100), method="web_form"
    )
    ContactConsent.objects.create(
        contact=dup1, channel="email", status="opted_out", recorded_at=days_ago(5), method="message"
    )
    ContactConsent.objects.create(
        contact=dup2, channel="sms", status="opted_in", recorded_at=days_ago(50), method="verbal"
    )
    ContactConsent.objects.create(
        contact=dup2, channel="whatsapp", status="opted_in", recorded_at=days_ago(500), method="verbal"
    )
    ContactConsent.objects.create(
        contact=keep, channel="whatsapp", status="opted_out", recorded_at=days_ago(1), method="verbal"
    )
    for c in (keep, dup1, dup2):
        Interaction.objects.create(kind="note", contact=c, subject=f"note on {c.pk}", occurred_at=timezone.now())
    order_create(number="M-1", contact=dup1, ordered_at=days_ago(3), lines=[LineInput(backpack, 1)])
    order_create(number="M-2", contact=dup2, ordered_at=days_ago(30), lines=[LineInput(backpack, 2)])
    static = Segment.objects.create(name="Fair leads", kind="static")
    SegmentMember.objects.create(segment=static, contact=keep)
    SegmentMember.objects.create(segment=static, contact=dup1)
    for c in (keep, dup1):
        ContactAnalysis.objects.create(contact=c, computed_at=timezone.now())
    Contact.all_objects.filter(pk=dup2.pk).update(attributes={"shoe_size": 42})
    dup2.refresh_from_db()
    return keep, dup1, dup2


def test_merge_moves_every_related_row_and_fills_empty_fields(trio, maria, acme):
    keep, dup1, dup2 = trio
    interactions, orders = Interaction.objects.count(), Order.objects.count()

    result = contacts_merge(survivor=keep, others=[dup1, dup2], actor=maria)

    keep.refresh_from_db()
    # Nothing lost: every interaction and order now belongs to the survivor.
    assert Interaction.objects.count() == interactions and set(
        Interaction.objects.values_list("contact", flat=True)
    ) == {keep.pk}
    assert Order.objects.count() == orders and set(Order.objects.values_list("contact", flat=True)) == {keep.pk}
    # Addresses and phones: the union, without the duplicate address; the survivor's primary stays primary.
    assert sorted(ContactEmail.objects.filter(contact=keep).values_list("email", flat=True)) == [
        "anna@home.example",
        "anna@work.example",
    ]
    assert sorted(ContactPhone.objects.filter(contact=keep).values_list("number", "is_primary")) == [
        ("+14155550123", True),
        ("+14155550199", False),
    ]
    # Consent: per channel, the most recently recorded wins.
    consents = {c.channel: (c.status, c.method) for c in ContactConsent.objects.filter(contact=keep)}
    assert consents == {
        "email": ("opted_out", "message"),
        "sms": ("opted_in", "verbal"),
        "whatsapp": ("opted_out", "verbal"),
    }
    assert sorted(t.name for t in keep.tags.all()) == ["news", "vip"]
    assert keep.attributes == {"shoe_size": 42}
    # Empty fields filled, nothing overwritten.
    assert (keep.first_name, keep.job_title, keep.company, keep.external_id) == ("Anna", "Buyer", acme, "shop-7")
    assert list(SegmentMember.objects.values_list("contact", flat=True)) == [keep.pk]
    assert list(ContactAnalysis.objects.values_list("contact", flat=True)) == [keep.pk]
    # The others are soft-deleted and point at the survivor.
    for dup in (dup1, dup2):
        dup.refresh_from_db()
        assert dup.deleted_at is not None and dup.merged_into == keep and dup.deleted_by == maria
    assert dup1.external_id is None
    assert list(Contact.objects.all()) == [keep]
    # Recorded in the survivor's history.
    entry = LogEntry.objects.get_for_object(keep).filter(changes__has_key="merged").get()
    assert entry.actor == maria and f"#{dup1.pk}" in entry.changes_dict["merged"][1]
    assert result.moved["crm.interaction"] == 2 and "job_title" in result.filled


def test_merge_is_all_or_nothing(trio):
    keep, dup1, dup2 = trio

    def broken(source, survivor):
        raise RuntimeError("disk full")

    merge_registry.register_merge_handler("crm.order", broken)
    try:
        with pytest.raises(RuntimeError):
            contacts_merge(survivor=keep, others=[dup1, dup2])
    finally:
        del merge_registry.HANDLERS["crm.order"]
    assert Contact.objects.count() == 3
    assert ContactEmail.objects.filter(contact=dup2).count() == 1
    assert Interaction.objects.filter(contact=dup1).count() == 1
    dup1.refresh_from_db()
    assert dup1.external_id == "shop-7" and dup1.merged_into is None


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("itself", "cannot be merged into itself"),
        ("into_deleted", "is deleted; restore it"),
        ("deleted_other", "Already deleted"),
        ("alone", "at least one other"),
    ],
)
def test_refused_merges_change_nothing(trio, case, message):
    keep, dup1, _ = trio
    if case == "into_deleted":
        Contact.objects.filter(pk=keep.pk).update(deleted_at=timezone.now())
    if case == "deleted_other":
        Contact.objects.filter(pk=dup1.pk).update(deleted_at=timezone.now())
    others = {"itself": [keep, dup1], "alone": []}.get(case, [dup1])
    with pytest.raises(ValidationError, match=message):
        contacts_merge(survivor=keep, others=others)
    assert Interaction.objects.filter(contact=dup1).count() == 1


def test_manager_merges_from_the_admin_choosing_the_survivor(trio, maria, login):
    keep, dup1, _ = trio
    client = login(maria)
    selection = {"action": "merge_selected", "_selected_action": [keep.pk, dup1.pk]}
    page = client.post("/admin/crm/contact/", selection)
    assert page.status_code == 200 and "Choose the contact to <strong>keep</strong>" in page.content.decode()
    response = client.post("/admin/crm/contact/", {**selection, "survivor": dup1.pk, "confirm": "yes"}, follow=True)
    assert "Merged 1 contact into" in response.content.decode()
    keep.refresh_from_db()
    assert keep.merged_into == dup1 and keep.deleted_at is not None


def test_agents_cannot_merge(trio, sam, login):
    keep, dup1, _ = trio
    response = login(sam).post(
        "/admin/crm/contact/",
        {"action": "merge_selected", "_selected_action": [keep.pk, dup1.pk], "survivor": keep.pk, "confirm": "yes"},
    )
    assert response.status_code in (200, 302)
    assert Contact.objects.count() == 3


def test_duplicates_page_lists_groups_with_their_reason(trio, maria, login, acme, make_contact):
    keep, dup1, _ = trio
    make_contact("Ben", "Ross", company=acme, email="b1@x.example")
    make_contact("Ben", "Ross", company=acme, email="b2@x.example")
    client = login(maria)
    by_email = client.get("/admin/crm/contact/duplicates/?reason=email")
    groups = by_email.context["groups"]
    assert [(g.reason, g.shared, [c.pk for c in g.members]) for g in groups] == [
        ("Same e-mail address", "anna@work.example", [keep.pk, dup1.pk])
    ]
    by_name = client.get("/admin/crm/contact/duplicates/?reason=name").context["groups"]
    assert [g.shared for g in by_name] == ["ben ross at Acme Outdoor"]
    assert client.get("/admin/crm/contact/duplicates/?reason=phone").context["groups"] == []
    contacts_merge(survivor=keep, others=[dup1])
    assert client.get("/admin/crm/contact/duplicates/?reason=email").context["groups"] == []


def test_company_merge_moves_contacts_interactions_and_orders(maria, make_contact, backpack):
    keep = Company.objects.create(name="Acme", domain="acme.example")
    dup = Company.objects.create(name="ACME Inc.", domain="acme.example", industry="Retail", external_id="erp-1")
    person = make_contact("Anna", company=dup)
    Interaction.objects.create(kind="meeting", company=dup, subject="Visit", occurred_at=timezone.now())
    order_create(number="C-1", contact=None, company=dup, ordered_at=timezone.now(), lines=[LineInput(backpack, 1)])

    companies_merge(survivor=keep, others=[dup], actor=maria)

    person.refresh_from_db()
    keep.refresh_from_db()
    assert person.company == keep
    assert Interaction.objects.get().company == keep and Order.objects.get().company == keep
    assert (keep.industry, keep.external_id) == ("Retail", "erp-1")
    assert [c.name for c in Company.objects.all()] == ["Acme"]
    assert Order.objects.get().total == Decimal("89.00")


def test_company_duplicates_by_domain(maria, login):
    Company.objects.create(name="Acme", domain="acme.example")
    Company.objects.create(name="Acme GmbH", domain="acme.example")
    groups = login(maria).get("/admin/crm/company/duplicates/?reason=domain").context["groups"]
    assert [(g.shared, len(g.members)) for g in groups] == [("acme.example", 2)]
    assert listed(login(maria), "/admin/crm/company/")  # the list still renders with the extra button
