"""Every staff change is recorded with who, when and what changed, and shown on the record's history page."""

from __future__ import annotations

from auditlog.context import set_actor
from auditlog.models import LogEntry

from crm.models import Contact, Order
from crm.services.contacts import contacts_set_stage
from tests.admin_forms import errors_of, form_data


def history(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_admin_edit_is_recorded_field_by_field_with_the_actor(sam, login, make_contact):
    contact = make_contact("Anna", "Schmidt", job_title="Buyer")
    client = login(sam)
    url = f"/admin/crm/contact/{contact.pk}/change/"
    data = form_data(client, url)
    data.update(job_title="Head of purchasing", stage="customer", tag_names="vip")
    response = client.post(url, data)
    assert response.status_code == 302, errors_of(response)

    entries = list(LogEntry.objects.get_for_object(contact).filter(action=LogEntry.Action.UPDATE))
    fields = {e.actor.username: e.changes_dict for e in entries if "job_title" in e.changes_dict}
    assert fields["sam"]["job_title"] == ["Buyer", "Head of purchasing"]
    assert fields["sam"]["stage"] == ["lead", "customer"]
    assert "first_name" not in fields["sam"]  # only what changed
    tag_changes = [e for e in entries if "tags" in e.changes_dict]
    assert [(e.actor, e.changes_dict["tags"]["objects"]) for e in tag_changes] == [(sam, ["vip"])]

    page = history(client, f"/admin/crm/contact/{contact.pk}/history/")
    assert "Head of purchasing" in page and "Buyer" in page and "sam" in page
    assert "vip" in page  # the tag change is part of the record's history


def test_changes_to_a_contacts_addresses_show_on_its_history(sam, login, make_contact):
    contact = make_contact("Anna", email="old@example.com")
    client = login(sam)
    url = f"/admin/crm/contact/{contact.pk}/change/"
    data = form_data(client, url)
    data["emails-0-email"] = "new@example.com"
    assert client.post(url, data).status_code == 302

    page = history(client, f"/admin/crm/contact/{contact.pk}/history/")
    assert "old@example.com" in page and "new@example.com" in page


def test_soft_delete_and_restore_stay_in_the_history(maria, login, make_contact):
    contact = make_contact("Anna")
    client = login(maria)
    client.post(f"/admin/crm/contact/{contact.pk}/delete/", {"post": "yes"})
    client.post("/admin/crm/deletedcontact/", {"action": "restore", "_selected_action": [contact.pk]})
    entries = LogEntry.objects.get_for_object(contact).filter(action=LogEntry.Action.UPDATE).order_by("timestamp")
    deleted_at_changes = [e.changes_dict.get("deleted_at") for e in entries]
    assert deleted_at_changes[0][0] == "None" and deleted_at_changes[0][1] != "None"  # deleted
    assert deleted_at_changes[1][1] == "None"  # restored
    assert {e.actor for e in entries} == {maria}


def test_service_changes_record_the_actor_given_by_the_caller(db, sam, make_contact):
    """The mechanism the API will use: code acting for someone wraps its work in set_actor."""
    contact = make_contact("Anna")
    with set_actor(sam):
        contacts_set_stage(contacts=Contact.objects.filter(pk=contact.pk), stage="prospect")
    entry = LogEntry.objects.get_for_object(contact).latest("timestamp")
    assert entry.actor == sam and entry.changes_dict["stage"] == ["lead", "prospect"]


def test_order_history_includes_its_lines(maria, login, make_contact, backpack):
    from django.utils import timezone

    from crm.services.purchases import LineInput, order_create

    order = order_create(
        number="H-1", contact=make_contact(), ordered_at=timezone.now(), lines=[LineInput(backpack, 2)]
    )
    assert isinstance(order, Order)
    page = history(login(maria), f"/admin/crm/order/{order.pk}/history/")
    assert "quantity" in page.lower() and "178" in page  # the line and the derived total


def test_history_page_requires_view_permission(db, login, make_contact):
    from tests.conftest import make_staff

    nobody = make_staff("nobody", None)
    contact = make_contact("Anna")
    assert login(nobody).get(f"/admin/crm/contact/{contact.pk}/history/").status_code == 403


def test_a_save_of_unaudited_columns_only_reads_nothing_and_records_nothing(db, make_contact):
    """A conversation's ``last_message_at`` moves with every message: auditlog would read the old row for each
    save to find nothing to record. A save that also names an audited column is recorded as before."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from social.models import Channel, Conversation

    channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Shop bot")
    conversation = Conversation.objects.create(channel=channel, contact=make_contact("Anna"))
    before = LogEntry.objects.get_for_object(conversation).count()
    conversation.last_message_at = timezone.now()
    with CaptureQueriesContext(connection) as captured:
        conversation.save(update_fields=["last_message_at", "updated_at"])
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["UPDATE"]
    assert LogEntry.objects.get_for_object(conversation).count() == before

    conversation.priority = 3
    conversation.last_message_at = timezone.now()
    conversation.save(update_fields=["priority", "last_message_at"])
    entry = LogEntry.objects.get_for_object(conversation).latest("timestamp")
    assert entry.changes_dict == {"priority": ["1", "3"]}
