"""Interactions (tasks and overdue filters) and orders (total derived from lines)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Interaction, Order, OrderLine, Product
from crm.services.purchases import LineInput, order_create
from tests.admin_forms import errors_of, form_data, listed
from tests.conftest import days_ago

INTERACTION_ADD = "/admin/crm/interaction/add/"
ORDER_ADD = "/admin/crm/order/add/"


def split_dt(data: dict, field: str, when: dt.datetime) -> None:
    local = timezone.localtime(when)
    data[f"{field}_0"], data[f"{field}_1"] = local.date().isoformat(), local.strftime("%H:%M:%S")


def test_agent_logs_a_call_attributed_to_them(sam, login, make_contact):
    contact = make_contact("Anna")
    client = login(sam)
    data = form_data(client, INTERACTION_ADD)
    assert data["staff"] == str(sam.pk)  # pre-filled with whoever logs it
    data.update(
        kind="call",
        direction="outbound",
        contact=str(contact.pk),
        subject="Renewal",
        duration="00:12:30",
        outcome="connected",
    )
    response = client.post(INTERACTION_ADD, data)
    assert response.status_code == 302, errors_of(response)
    call = Interaction.objects.get()
    assert (call.kind, call.direction, call.contact, call.staff) == ("call", "outbound", contact, sam)
    assert call.duration == dt.timedelta(minutes=12, seconds=30)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "task"}, "A task needs a due date."),
        ({"kind": "call", "due": True}, "Only tasks have a due date."),
        ({"kind": "note", "contact": ""}, "Choose the contact and/or the company"),
        ({"kind": "gossip"}, "Select a valid choice"),
    ],
)
def test_invalid_interactions_are_refused_with_the_field_named(sam, login, make_contact, changes, message):
    contact = make_contact("Anna")
    client = login(sam)
    data = form_data(client, INTERACTION_ADD)
    data.update(contact=str(contact.pk), subject="x", kind=changes["kind"])
    if "contact" in changes:
        data["contact"] = changes["contact"]
    if changes.get("due"):
        split_dt(data, "due_at", timezone.now())
    response = client.post(INTERACTION_ADD, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Interaction.objects.exists()


def test_overdue_tasks_are_filterable_on_interactions_and_contacts(ada, login, make_contact):
    late, on_time, done = make_contact("Late"), make_contact("OnTime"), make_contact("Done")
    Interaction.objects.create(
        kind="task", contact=late, subject="Call back", occurred_at=days_ago(5), due_at=days_ago(1)
    )
    Interaction.objects.create(
        kind="task",
        contact=on_time,
        subject="Later",
        occurred_at=days_ago(5),
        due_at=timezone.now() + dt.timedelta(days=2),
    )
    Interaction.objects.create(
        kind="task", contact=done, subject="Done", occurred_at=days_ago(5), due_at=days_ago(2), done=True
    )
    client = login(ada)

    assert [i.subject for i in listed(client, "/admin/crm/interaction/?overdue=yes")] == ["Call back"]
    assert [c.first_name for c in listed(client, "/admin/crm/contact/?overdue_task=yes")] == ["Late"]
    assert sorted(c.first_name for c in listed(client, "/admin/crm/contact/?overdue_task=no")) == ["Done", "OnTime"]


def test_marking_a_task_done_records_when(sam, login, make_contact):
    task = Interaction.objects.create(
        kind="task", contact=make_contact(), subject="x", occurred_at=days_ago(2), due_at=days_ago(1)
    )
    response = login(sam).post("/admin/crm/interaction/", {"action": "mark_done", "_selected_action": [task.pk]})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.done and task.done_at is not None


@pytest.fixture
def products(db: None) -> tuple[Product, Product]:
    return (
        Product.objects.create(name="Backpack", sku="BAG", price=Decimal("89.00")),
        Product.objects.create(name="Headlamp", sku="LAMP", price=Decimal("39.50")),
    )


def order_form(client, url, *, contact, lines):
    data = form_data(client, url)
    data.update(number=data.get("number") or "A-1001", contact=str(contact.pk), status="paid", currency="EUR")
    if not data.get("ordered_at_0"):
        split_dt(data, "ordered_at", timezone.now())
    start = int(data.get("lines-INITIAL_FORMS", 0))
    for i, (product, qty, price) in enumerate(lines, start=start):
        data.update(
            {f"lines-{i}-product": str(product.pk), f"lines-{i}-quantity": str(qty), f"lines-{i}-unit_price": price}
        )
    data["lines-TOTAL_FORMS"] = str(start + len(lines))
    return data


def test_order_total_is_derived_from_its_lines_on_create_and_edit(maria, login, make_contact, products):
    backpack, lamp = products
    contact = make_contact("Anna")
    client = login(maria)
    response = client.post(
        ORDER_ADD, order_form(client, ORDER_ADD, contact=contact, lines=[(backpack, 2, "89.00"), (lamp, 1, "39.50")])
    )
    assert response.status_code == 302, errors_of(response)
    order = Order.objects.get()
    assert order.total == Decimal("217.50")
    assert [line.line_total for line in order.lines.all()] == [Decimal("178.00"), Decimal("39.50")]

    url = f"/admin/crm/order/{order.pk}/change/"
    data = order_form(client, url, contact=contact, lines=[])
    first = order.lines.first()
    assert first is not None
    data["lines-0-quantity"] = "3"  # 3 × 89.00
    data["lines-1-DELETE"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, errors_of(response)
    order.refresh_from_db()
    assert order.total == Decimal("267.00") == sum(line.line_total for line in order.lines.all())


def test_total_cannot_be_typed_in(maria, login, make_contact, products):
    client = login(maria)
    data = order_form(client, ORDER_ADD, contact=make_contact(), lines=[(products[0], 1, "89.00")])
    data["total"] = "1.00"
    assert client.post(ORDER_ADD, data).status_code == 302
    assert Order.objects.get().total == Decimal("89.00")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ((0, "89.00"), "Ensure this value is greater than or equal to 1"),
        ((1, "-5"), "greater than or equal to 0"),
        ((1, "abc"), "Enter a number"),
    ],
)
def test_a_bad_order_line_saves_nothing(maria, login, make_contact, products, line, message):
    client = login(maria)
    qty, price = line
    data = order_form(
        client, ORDER_ADD, contact=make_contact(), lines=[(products[1], 1, "39.50"), (products[0], qty, price)]
    )
    response = client.post(ORDER_ADD, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Order.objects.exists() and not OrderLine.objects.exists()


def test_order_numbers_are_unique_and_orders_need_a_customer(maria, login, make_contact, products):
    contact = make_contact()
    order_create(number="A-1", contact=contact, ordered_at=timezone.now(), lines=[LineInput(products[0], 1)])
    client = login(maria)
    data = order_form(client, ORDER_ADD, contact=contact, lines=[(products[0], 1, "89.00")])
    data["number"] = "A-1"
    response = client.post(ORDER_ADD, data)
    assert response.status_code == 200 and "Order with this Number already exists" in response.content.decode()

    data.update(number="A-2", contact="")
    response = client.post(ORDER_ADD, data)
    assert response.status_code == 200 and "belongs to a contact or a company" in response.content.decode()
    assert Order.objects.count() == 1


def test_order_service_rolls_back_everything_on_a_bad_line(db, make_contact, products):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        order_create(
            number="B-1",
            contact=make_contact(),
            ordered_at=timezone.now(),
            lines=[LineInput(products[0], 1), LineInput(products[1], 0)],
        )
    assert not Order.objects.exists() and not OrderLine.objects.exists()
