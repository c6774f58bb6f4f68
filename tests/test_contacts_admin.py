"""Contacts in the admin: creating with addresses, phones, tags and custom attributes; bad input refused."""

from __future__ import annotations

import pytest

from crm.models import AttributeDefinition, Company, Contact, ContactPhone, Tag
from tests.admin_forms import errors_of, form_data

ADD_URL = "/admin/crm/contact/add/"


def add_email(data: dict, email: str, i: int = 0) -> None:
    data["emails-TOTAL_FORMS"] = str(i + 1)
    data[f"emails-{i}-email"] = email
    data[f"emails-{i}-is_primary"] = "on"


def add_phone(data: dict, number: str, i: int = 0) -> None:
    data["phones-TOTAL_FORMS"] = str(i + 1)
    data[f"phones-{i}-number"] = number


@pytest.fixture
def loyalty(db: None) -> AttributeDefinition:
    return AttributeDefinition.objects.create(
        key="loyalty_tier", label="Loyalty tier", type="choice", choices=["gold", "silver"]
    )


@pytest.fixture
def shoe_size(db: None) -> AttributeDefinition:
    return AttributeDefinition.objects.create(key="shoe_size", label="Shoe size", type="number")


def test_agent_creates_a_contact_with_email_phone_tags_and_attributes(sam, login, acme, loyalty, shoe_size, settings):
    settings.PHONE_DEFAULT_REGION = "US"
    Tag.objects.create(name="VIP")
    client = login(sam)
    data = form_data(client, ADD_URL)
    data.update(
        first_name="Anna", last_name="Schmidt", company=str(acme.pk), stage="prospect", tag_names="vip, Newsletter"
    )
    data.update({"attr__loyalty_tier": "gold", "attr__shoe_size": "42"})
    add_email(data, "Anna.Schmidt@Example.COM")
    add_phone(data, "(415) 555-0123")

    response = client.post(ADD_URL, data)

    assert response.status_code == 302, errors_of(response)
    contact = Contact.objects.get(last_name="Schmidt")
    assert contact.company == acme
    assert contact.stage == "prospect"
    assert [e.email for e in contact.emails.all()] == ["anna.schmidt@example.com"]
    assert [p.number for p in contact.phones.all()] == ["+14155550123"]
    assert sorted(t.name for t in contact.tags.all()) == ["Newsletter", "VIP"]  # existing "VIP" reused, new one created
    assert Tag.objects.count() == 2
    assert contact.attributes == {"loyalty_tier": "gold", "shoe_size": 42}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "12345", "not a valid phone number"),
        ("phone", "call me maybe", "not a phone number"),
        ("email", "anna@", "Enter a valid email address"),
        ("stage", "vip", "Select a valid choice"),
        ("attr__shoe_size", "forty-two", "Enter a number"),
        ("attr__loyalty_tier", "platinum", "Select a valid choice"),
        ("first_name", "", "first or last name"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(sam, login, loyalty, shoe_size, field, value, message):
    client = login(sam)
    data = form_data(client, ADD_URL)
    data.update(first_name="Anna", last_name="Schmidt")
    add_email(data, "anna@example.com")
    if field == "first_name":
        data.update(first_name="", last_name="")
    elif field == "phone":
        add_phone(data, value)
    elif field == "email":
        add_email(data, value)
    else:
        data[field] = value

    response = client.post(ADD_URL, data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert Contact.all_objects.count() == 0
    assert ContactPhone.objects.count() == 0


def test_required_custom_attribute_must_be_given(sam, login):
    AttributeDefinition.objects.create(key="customer_number", label="Customer number", type="text", required=True)
    client = login(sam)
    data = form_data(client, ADD_URL)
    data.update(first_name="Anna")
    response = client.post(ADD_URL, data)
    assert response.status_code == 200
    assert "This field is required" in errors_of(response)
    assert not Contact.objects.exists()


def test_external_id_is_unique_only_when_set(sam, login, make_contact):
    make_contact("Ben", external_id="shop-1")
    make_contact("Carla")  # no external id
    client = login(sam)
    data = form_data(client, ADD_URL)
    data.update(first_name="Dora", external_id="")
    assert client.post(ADD_URL, data).status_code == 302  # a second contact without an id is fine

    data = form_data(client, ADD_URL)
    data.update(first_name="Emil", external_id="shop-1")
    response = client.post(ADD_URL, data)
    assert response.status_code == 200
    assert "external id" in errors_of(response).lower() or "already exists" in errors_of(response)
    assert not Contact.objects.filter(first_name="Emil").exists()


def test_consent_is_recorded_per_channel_with_when_and_how(sam, login, make_contact):
    contact = make_contact("Anna")
    client = login(sam)
    url = f"/admin/crm/contact/{contact.pk}/change/"
    data = form_data(client, url)
    data.update(
        {
            "consents-TOTAL_FORMS": "1",
            "consents-0-channel": "whatsapp",
            "consents-0-status": "opted_in",
            "consents-0-recorded_at_0": "2026-11-01",
            "consents-0-recorded_at_1": "10:30:00",
            "consents-0-method": "web_form",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, errors_of(response)
    consent = contact.consents.get()
    assert (consent.channel, consent.status, consent.method) == ("whatsapp", "opted_in", "web_form")
    assert consent.recorded_at.date().isoformat() == "2026-11-01"


def test_custom_attribute_values_are_validated_against_their_definitions(db, loyalty, make_contact):
    from django.core.exceptions import ValidationError

    contact = make_contact("Anna")
    contact.attributes = {"loyalty_tier": "bronze", "unknown_key": 1}
    with pytest.raises(ValidationError) as excinfo:
        contact.full_clean()
    messages = excinfo.value.message_dict["attributes"]
    assert any(m.startswith("loyalty_tier: expected one of gold, silver") for m in messages), messages
    assert any(m.startswith("unknown_key: unknown attribute") for m in messages)


def test_attribute_definition_in_use_cannot_be_deleted(ada, login, loyalty, make_contact):
    make_contact("Anna", attributes={"loyalty_tier": "gold"})
    client = login(ada)
    response = client.post(f"/admin/crm/attributedefinition/{loyalty.pk}/delete/", {"post": "yes"})
    assert response.status_code == 200
    assert "have a value for “loyalty_tier”" in response.content.decode()
    assert AttributeDefinition.objects.filter(pk=loyalty.pk).exists()


def test_tags_are_shared_by_contacts_and_companies(sam, login, make_contact):
    client = login(sam)
    data = form_data(client, "/admin/crm/company/add/")
    data.update(name="Bergblick Hotels", tag_names="partner")
    assert client.post("/admin/crm/company/add/", data).status_code == 302
    contact = make_contact("Anna")
    url = f"/admin/crm/contact/{contact.pk}/change/"
    data = form_data(client, url)
    data["tag_names"] = "PARTNER"
    assert client.post(url, data).status_code == 302
    tag = Tag.objects.get()
    assert list(tag.companies.all()) == [Company.objects.get(name="Bergblick Hotels")]
    assert list(tag.contacts.all()) == [contact]


def test_company_phone_is_normalised_and_invalid_one_refused(sam, login, settings):
    settings.PHONE_DEFAULT_REGION = "DE"
    client = login(sam)
    data = form_data(client, "/admin/crm/company/add/")
    data.update(name="Bergblick", phone="030 901820", domain="HTTPS://Bergblick.example/")
    assert client.post("/admin/crm/company/add/", data).status_code == 302
    company = Company.objects.get()
    assert (company.phone, company.domain) == ("+4930901820", "bergblick.example")

    data = form_data(client, "/admin/crm/company/add/")
    data.update(name="Other", phone="12")
    response = client.post("/admin/crm/company/add/", data)
    assert response.status_code == 200 and "phone number" in errors_of(response)
    assert Company.objects.count() == 1
