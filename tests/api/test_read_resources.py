"""Interactions, products, orders (with lines) and tags: read through the API with their own scopes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from crm.models import Interaction, Product, Tag
from crm.services.purchases import LineInput, order_create
from tests.api.conftest import problem


def test_partner_reads_orders_with_lines_and_products(partner: Any, make_contact: Any, backpack: Product) -> None:
    anna = make_contact()
    order = order_create(
        number="SO-1", contact=anna, ordered_at=timezone.now() - dt.timedelta(days=1),
        lines=[LineInput(product=backpack, quantity=2)],
    )  # fmt: skip
    order_create(
        number="SO-2", contact=anna, ordered_at=timezone.now(), status="cancelled",
        lines=[LineInput(product=backpack, quantity=1)],
    )  # fmt: skip
    shop = partner(["orders:read", "products:read"])
    body = shop.get(f"/api/v1/orders/{order.pk}/").json()
    assert (
        body["total"] == "178.00"
        and body["lines"][0]["sku"] == "BAG-030"
        and body["lines"][0]["line_total"] == "178.00"
    )
    assert [o["number"] for o in shop.get("/api/v1/orders/?status=paid").json()["results"]] == ["SO-1"]
    assert [o["number"] for o in shop.get(f"/api/v1/orders/?contact={anna.pk}").json()["results"]] == ["SO-1", "SO-2"]
    assert shop.get("/api/v1/products/?sku=BAG-030").json()["results"][0]["price"] == "89.00"
    problem(shop.post("/api/v1/orders/", {"number": "SO-3"}, format="json"), 403)  # read scope only
    problem(shop.get("/api/v1/interactions/"), 403)
    assert Product.objects.count() == 1 and Decimal(body["total"]) == order.total


def test_partner_reads_interactions_and_tags(partner: Any, make_contact: Any) -> None:
    anna, bert = make_contact("Anna"), make_contact("Bert")
    Interaction.objects.create(kind="call", contact=anna, occurred_at=timezone.now(), subject="Intro")
    Interaction.objects.create(kind="note", contact=bert, occurred_at=timezone.now(), subject="Later")
    Tag.objects.create(name="VIP")
    Tag.objects.create(name="newsletter")
    shop = partner(["interactions:read", "tags:read"])
    calls = shop.get("/api/v1/interactions/?kind=call").json()["results"]
    assert [(i["subject"], i["contact"]) for i in calls] == [("Intro", anna.pk)]
    assert [i["subject"] for i in shop.get(f"/api/v1/interactions/?contact={bert.pk}").json()["results"]] == ["Later"]
    assert [t["name"] for t in shop.get("/api/v1/tags/?ordering=name&limit=1").json()["results"]] in (
        ["newsletter"],
        ["VIP"],
    )
    first = shop.get("/api/v1/tags/?limit=1").json()
    second = shop.get(f"/api/v1/tags/?limit=1&cursor={first['next_cursor']}").json()
    assert [t["name"] for t in first["results"] + second["results"]] == ["VIP", "newsletter"]
    assert shop.get("/api/v1/tags/?name=vip").json()["results"][0]["name"] == "VIP"
