"""The contact list's fast rows (crm.api.contact_export) are exactly what ContactSerializer renders, for
contacts with and without a company, owner, addresses, phones, consents, tags and custom attributes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from crm.api.contacts import ContactSerializer, ContactViewSet
from crm.models import AttributeDefinition, Company, Contact, ContactConsent, ContactPhone, Tag, User


def test_list_rows_equal_the_serializers(partner: Any, make_contact: Any, acme: Company, sam: User) -> None:
    AttributeDefinition.objects.create(key="tier", label="Tier")
    Company.objects.filter(pk=acme.pk).update(external_id="acme-1")
    full = make_contact("Anna", "Schmidt", phone="+493021234567", company=acme, owner=sam, stage="customer",
                        external_id="A-1", attributes={"tier": "gold"}, job_title="Buyer")  # fmt: skip
    ContactPhone.objects.create(contact=full, number="+493029990001", label="home")
    ContactConsent.objects.create(
        contact=full, channel="email", status="opted_in", method="web_form",
        recorded_at=timezone.now() - dt.timedelta(days=3),
    )  # fmt: skip
    full.tags.add(Tag.objects.create(name="vip"), Tag.objects.create(name="Newsletter"))
    make_contact("Bert", "")  # bare: no company, owner, phone, consent, tag
    gone = make_contact("Gone", "Away")
    Contact.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())

    listed = partner(["contacts:read"]).get("/api/v1/contacts/").json()["results"]
    expected = ContactSerializer(ContactViewSet().get_queryset().order_by("updated_at", "id"), many=True).data
    assert listed == [dict(row) for row in expected]
    assert [c["first_name"] for c in listed] == ["Anna", "Bert"]
    assert listed[0]["tags"] == ["Newsletter", "vip"] and listed[0]["company_external_id"] == "acme-1"
    assert [p["number"] for p in listed[0]["phones"]] == ["+493021234567", "+493029990001"]
