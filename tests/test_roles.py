"""Staff roles, proved through the admin: for each role what it can and cannot open, add, change, delete and
restore. Administrator: everything. Manager: all records, delete (soft for contacts and companies), restore,
import, merge. Agent: view everything, edit contacts, companies and interactions; no delete, import or merge.
Read-only: view only. A staff account without a role sees nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from crm.models import AttributeDefinition, Company, Contact, Interaction, Order, Product, User
from crm.roles import ADMINISTRATOR, AGENT, MANAGER, READ_ONLY
from tests.admin_forms import errors_of, form_data
from tests.conftest import make_staff

ALLOWED, DENIED = 200, 403


@pytest.fixture(autouse=True)
def _fast_password_hashes(settings) -> None:
    # Autouse fixtures run before the personas are created: five accounts per test with the production
    # hasher would cost most of this file's run time, and no test here signs in with a password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def nobody(db: None) -> User:
    """Staff flag, but no role."""
    return make_staff("nobody", None)


@pytest.fixture
def people(ada: User, maria: User, sam: User, rita: User, nobody: User) -> dict[str, User]:
    return {"ada": ada, "maria": maria, "sam": sam, "rita": rita, "nobody": nobody}


@pytest.fixture
def records(make_contact: Callable[..., Contact], acme: Company, backpack: Product) -> dict[str, Any]:
    """One record of each kind the roles are about."""
    contact = make_contact("Anna", "Schmidt", company=acme)
    interaction = Interaction.objects.create(
        kind=Interaction.Kind.CALL, subject="Intro call", contact=contact, occurred_at=timezone.now()
    )
    order = Order.objects.create(
        number="SO-1001", contact=contact, ordered_at=timezone.now() - dt.timedelta(days=3), currency="EUR"
    )
    return {"contact": contact, "company": acme, "interaction": interaction, "order": order, "product": backpack}


# The record kinds each role may change (add and edit); every role with a role may view all of them.
EDITS = {
    "ada": {"contact", "company", "interaction", "order", "product"},
    "maria": {"contact", "company", "interaction", "order", "product"},
    "sam": {"contact", "company", "interaction"},
    "rita": set(),
    "nobody": set(),
}
DELETES = {"ada": True, "maria": True, "sam": False, "rita": False, "nobody": False}
MODELS = ("contact", "company", "interaction", "order", "product")
PERSONAS = ("ada", "maria", "sam", "rita", "nobody")
# What each list shows of the record in the fixture.
LISTED_AS = {
    "contact": "Anna Schmidt",
    "company": "Acme Outdoor",
    "interaction": "Intro call",
    "order": "SO-1001",
    "product": "BAG-030",
}
# A field each change test edits, and the value it sets.
EDITED_FIELD = {
    "contact": ("job_title", "Head of Purchasing"),
    "company": ("industry", "Outdoor retail"),
    "interaction": ("subject", "Follow-up call"),
    "order": ("status", "paid"),
    "product": ("name", "Trail Backpack 35"),
}


def changelist(model: str) -> str:
    return f"/admin/crm/{model}/"


def listed(client: Client, model: str) -> list[Any]:
    """The rows the admin list shows (the page's messages may still name a record just deleted)."""
    response = client.get(changelist(model))
    assert response.status_code == ALLOWED
    return list(response.context["cl"].result_list)


def change_url(model: str, pk: int) -> str:
    return f"/admin/crm/{model}/{pk}/change/"


# --- The groups themselves -----------------------------------------------------------------------------


def crm_perms(role: str) -> set[str]:
    return set(
        Permission.objects.filter(group__name=role, content_type__app_label="crm").values_list("codename", flat=True)
    )


def test_the_data_migration_creates_the_four_roles(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {ADMINISTRATOR, MANAGER, AGENT, READ_ONLY}
    assert Group.objects.get(name=ADMINISTRATOR).permissions.count() == Permission.objects.count()


def test_manager_permissions(db):
    perms = crm_perms(MANAGER)
    for model in ("contact", "company", "interaction", "order", "product", "tag"):
        assert {f"add_{model}", f"change_{model}", f"delete_{model}", f"view_{model}"} <= perms
    assert {"restore_contact", "merge_contact", "import_contact", "restore_company", "merge_company"} <= perms
    # Who may do what, and how the product is set up, stays with administrators.
    assert not {"add_attributedefinition", "change_attributedefinition", "delete_attributedefinition"} & perms
    assert not {"add_user", "change_user", "delete_user"} & perms


def test_agent_permissions(db):
    perms = crm_perms(AGENT)
    for model in ("contact", "company", "interaction"):
        assert {f"add_{model}", f"change_{model}", f"view_{model}"} <= perms
        assert f"delete_{model}" not in perms
    assert {"view_order", "view_product"} <= perms
    assert not {"add_order", "change_order", "add_product", "change_product"} & perms
    assert not {p for p in perms if p.startswith(("delete_", "merge_", "import_", "restore_"))}
    assert not {p for p in perms if p.endswith("_user")}


def test_read_only_permissions_are_all_view(db):
    perms = crm_perms(READ_ONLY)
    assert {"view_contact", "view_company", "view_interaction", "view_order", "view_product"} <= perms
    assert all(p.startswith("view_") for p in perms), perms
    assert "view_user" not in perms
    # Nothing outside the product's own records (sessions, groups, allauth's authenticators...).
    assert not Permission.objects.filter(group__name=READ_ONLY).exclude(
        content_type__app_label__in=["crm", "social", "routing"]
    )


@pytest.mark.parametrize(
    ("persona", "allowed"), [("ada", True), ("maria", True), ("sam", False), ("rita", False), ("nobody", False)]
)
@pytest.mark.parametrize("perm", ["crm.merge_contact", "crm.import_contact", "crm.restore_contact"])
def test_merge_import_and_restore_belong_to_managers_and_administrators(people, persona, allowed, perm):
    assert people[persona].has_perm(perm) is allowed


# --- Opening lists and add pages -----------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_changelist(people, records, login, persona, model):
    response = login(people[persona]).get(changelist(model))

    assert response.status_code == (DENIED if persona == "nobody" else ALLOWED)
    if response.status_code == ALLOWED:
        assert LISTED_AS[model] in response.content.decode()


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_add_page(people, login, persona, model):
    response = login(people[persona]).get(f"/admin/crm/{model}/add/")

    assert response.status_code == (ALLOWED if model in EDITS[persona] else DENIED)


@pytest.mark.parametrize("persona", PERSONAS)
def test_adding_a_contact(people, login, persona):
    client = login(people[persona])
    data = form_data(login(people["ada"]), "/admin/crm/contact/add/")
    data.update(first_name="Ben", last_name="Okafor")

    response = client.post("/admin/crm/contact/add/", data)

    allowed = "contact" in EDITS[persona]
    assert response.status_code == (302 if allowed else DENIED), errors_of(response)
    assert Contact.objects.filter(last_name="Okafor").exists() is allowed


# --- Changing a record ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_change_post(people, records, login, persona, model):
    record = records[model]
    url = change_url(model, record.pk)
    field, value = EDITED_FIELD[model]
    data = form_data(login(people["ada"]), url)  # the complete form, as someone who may edit it sees it
    data[field] = value

    response = login(people[persona]).post(url, data)

    allowed = model in EDITS[persona]
    assert response.status_code == (302 if allowed else DENIED), errors_of(response)
    record.refresh_from_db()
    assert (getattr(record, field) == value) is allowed


@pytest.mark.parametrize("persona", ["rita", "sam"])
def test_view_only_staff_see_the_record_without_a_save_button(people, records, login, persona):
    # Read-only staff for everything, agents for orders: the page opens, read-only.
    model = "contact" if persona == "rita" else "order"
    response = login(people[persona]).get(change_url(model, records[model].pk))

    assert response.status_code == ALLOWED
    assert str(records[model]).encode() in response.content
    assert b'name="_save"' not in response.content


# --- Deleting ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_delete_page(people, records, login, persona, model):
    response = login(people[persona]).get(f"/admin/crm/{model}/{records[model].pk}/delete/")

    assert response.status_code == (ALLOWED if DELETES[persona] else DENIED)


@pytest.mark.parametrize("model", ["interaction", "order", "product"])
@pytest.mark.parametrize("persona", PERSONAS)
def test_deleting_other_records(people, records, login, persona, model):
    record = records[model]
    if model == "product":
        record = Product.objects.create(name="Camp Stool", sku="STOOL-1", price=Decimal("19.00"))

    response = login(people[persona]).post(f"/admin/crm/{model}/{record.pk}/delete/", {"post": "yes"})

    assert response.status_code == (302 if DELETES[persona] else DENIED)
    assert type(record).objects.filter(pk=record.pk).exists() is not DELETES[persona]


@pytest.mark.parametrize("persona", ["sam", "rita"])
@pytest.mark.parametrize("model", ["contact", "company"])
def test_agents_and_read_only_staff_cannot_delete(people, records, login, persona, model):
    record = records[model]
    client = login(people[persona])

    single = client.post(f"/admin/crm/{model}/{record.pk}/delete/", {"post": "yes"})
    bulk = client.post(changelist(model), {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"})

    assert single.status_code == DENIED
    assert bulk.status_code in {200, 302, DENIED}  # the action is not on offer: nothing happens
    record.refresh_from_db()
    assert record.deleted_at is None
    assert type(record).objects.filter(pk=record.pk).exists()


@pytest.mark.parametrize("model", ["contact", "company"])
def test_a_managers_delete_is_a_soft_delete(maria, records, login, model):
    record = records[model]
    client = login(maria)

    response = client.post(f"/admin/crm/{model}/{record.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert record not in listed(client, model)
    assert not type(record).objects.filter(pk=record.pk).exists()
    kept = type(record).all_objects.get(pk=record.pk)
    assert kept.deleted_at is not None
    assert kept.deleted_by == maria


def test_a_managers_bulk_delete_is_soft_too(maria, make_contact, login):
    contacts = [make_contact("Ben", "Okafor"), make_contact("Chen", "Wei")]

    response = login(maria).post(
        changelist("contact"),
        {"action": "delete_selected", "_selected_action": [c.pk for c in contacts], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Contact.objects.filter(pk__in=[c.pk for c in contacts]).exists()
    assert Contact.all_objects.filter(pk__in=[c.pk for c in contacts], deleted_by=maria).count() == 2


# --- Restoring -----------------------------------------------------------------------------------------


@pytest.fixture
def deleted_contact(maria, records, login) -> Contact:
    contact = records["contact"]
    assert login(maria).post(f"/admin/crm/contact/{contact.pk}/delete/", {"post": "yes"}).status_code == 302
    return contact


@pytest.mark.parametrize(
    ("persona", "status"), [("ada", ALLOWED), ("maria", ALLOWED), ("sam", DENIED), ("rita", DENIED), ("nobody", DENIED)]
)
def test_the_deleted_contacts_list(people, deleted_contact, login, persona, status):
    response = login(people[persona]).get("/admin/crm/deletedcontact/")

    assert response.status_code == status
    if status == ALLOWED:
        assert b"Anna Schmidt" in response.content


@pytest.mark.parametrize("persona", ["ada", "maria"])
def test_managers_and_administrators_restore_a_deleted_contact(people, deleted_contact, login, persona):
    client = login(people[persona])

    response = client.post(
        "/admin/crm/deletedcontact/", {"action": "restore", "_selected_action": [deleted_contact.pk]}
    )

    assert response.status_code == 302
    restored = Contact.objects.get(pk=deleted_contact.pk)
    assert restored.deleted_at is None and restored.deleted_by is None
    assert restored in listed(client, "contact")
    assert restored.pk not in [c.pk for c in listed(client, "deletedcontact")]


@pytest.mark.parametrize("persona", ["sam", "rita"])
def test_agents_and_read_only_staff_cannot_restore(people, deleted_contact, login, persona):
    response = login(people[persona]).post(
        "/admin/crm/deletedcontact/", {"action": "restore", "_selected_action": [deleted_contact.pk]}
    )

    assert response.status_code == DENIED
    assert not Contact.objects.filter(pk=deleted_contact.pk).exists()


def test_nobody_edits_a_deleted_contact_in_its_list(ada, deleted_contact, login):
    # Even administrators only restore from there; the record's page stays read-only until it is back.
    client = login(ada)

    assert client.get("/admin/crm/deletedcontact/add/").status_code == DENIED
    assert client.post(f"/admin/crm/deletedcontact/{deleted_contact.pk}/change/", {}).status_code == DENIED


# --- User management and product set-up ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "url", "method", "status"),
    [
        ("ada", "/admin/crm/user/", "get", ALLOWED),
        ("ada", "/admin/crm/user/add/", "get", ALLOWED),
        ("maria", "/admin/crm/user/add/", "get", DENIED),
        ("sam", "/admin/crm/user/", "get", DENIED),
        ("sam", "/admin/crm/user/add/", "get", DENIED),
        ("rita", "/admin/crm/user/", "get", DENIED),
        ("ada", "/admin/auth/group/", "get", ALLOWED),
        ("maria", "/admin/auth/group/", "get", DENIED),
        ("sam", "/admin/auth/group/", "get", DENIED),
        ("ada", "/admin/crm/attributedefinition/add/", "get", ALLOWED),
        ("maria", "/admin/crm/attributedefinition/add/", "get", DENIED),
        ("maria", "/admin/crm/attributedefinition/add/", "post", DENIED),
        ("sam", "/admin/crm/attributedefinition/add/", "get", DENIED),
        ("rita", "/admin/crm/attributedefinition/add/", "get", DENIED),
    ],
)
def test_user_management_and_setup_pages(people, login, persona, url, method, status):
    client = login(people[persona])

    if method == "post":
        response = client.post(url, {"key": "shoe_size", "label": "Shoe size", "type": "number", "position": "0"})
    else:
        response = client.get(url)

    assert response.status_code == status
    if method == "post":
        assert not AttributeDefinition.objects.exists()


def test_an_administrator_defines_an_attribute(ada, login):
    response = login(ada).post(
        "/admin/crm/attributedefinition/add/",
        {"key": "shoe_size", "label": "Shoe size", "type": "number", "position": "0", "choices": "[]"},
    )

    assert response.status_code == 302, errors_of(response)
    assert AttributeDefinition.objects.filter(key="shoe_size").exists()


def test_an_agent_cannot_make_themselves_a_manager(sam, login):
    client = login(sam)
    manager = Group.objects.get(name=MANAGER)

    response = client.post(f"/admin/crm/user/{sam.pk}/change/", {"username": "sam", "groups": [manager.pk]})

    assert response.status_code == DENIED
    assert not sam.groups.filter(name=MANAGER).exists()


def test_an_agent_can_still_pick_an_owner_for_a_contact(sam, maria, login):
    response = login(sam).get(
        "/admin/autocomplete/", {"app_label": "crm", "model_name": "contact", "field_name": "owner", "term": "mar"}
    )

    assert response.status_code == ALLOWED
    assert [r["text"] for r in response.json()["results"]] == ["maria"]


def test_read_only_staff_cannot_search_users_through_the_owner_picker(rita, maria, login):
    response = login(rita).get(
        "/admin/autocomplete/", {"app_label": "crm", "model_name": "contact", "field_name": "owner", "term": "mar"}
    )
    assert response.status_code == DENIED
    assert login(rita).get("/admin/crm/user/").status_code == DENIED


def test_a_manager_restores_a_deleted_company(maria, sam, acme, login):
    client = login(maria)
    client.post(f"/admin/crm/company/{acme.pk}/delete/", {"post": "yes"})
    assert login(sam).get("/admin/crm/deletedcompany/").status_code == DENIED

    response = client.post("/admin/crm/deletedcompany/", {"action": "restore", "_selected_action": [acme.pk]})

    assert response.status_code == 302
    assert acme in listed(client, "company")


# --- Import and merge, as offered in the admin ----------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"), [("ada", ALLOWED), ("maria", ALLOWED), ("sam", DENIED), ("rita", DENIED)]
)
def test_the_contact_import_page(people, login, persona, status):
    assert login(people[persona]).get("/admin/crm/contact/import/").status_code == status


@pytest.mark.parametrize(("persona", "offered"), [("ada", True), ("maria", True), ("sam", False), ("rita", False)])
def test_merge_and_delete_are_offered_to_managers_and_administrators(people, records, login, persona, offered):
    response = login(people[persona]).get(changelist("contact"))

    form = response.context["action_form"]  # None for read-only staff: no action menu at all
    actions = {name for name, _ in form.fields["action"].choices} if form else set()
    assert ("merge_selected" in actions) is offered
    assert ("delete_selected" in actions) is offered


@pytest.mark.parametrize(("persona", "remaining"), [("maria", 1), ("sam", 2)])
def test_merging_by_posting_the_action(people, make_contact, login, persona, remaining):
    keep, other = make_contact("Anna", "Schmidt"), make_contact("Anna", "Schmidt")

    login(people[persona]).post(
        changelist("contact"),
        {"action": "merge_selected", "_selected_action": [keep.pk, other.pk], "survivor": keep.pk, "confirm": "yes"},
    )

    assert Contact.objects.filter(pk__in=[keep.pk, other.pk]).count() == remaining
    assert Contact.objects.filter(pk=keep.pk).exists()
