"""Products and orders pushed by a partner: upsert by SKU / order number, lines replaced, total recomputed."""

from __future__ import annotations

from typing import Any

from crm.models import Order, OrderLine, Product
from tests.api.conftest import problem


def test_partner_upserts_products_and_orders_with_lines(partner: Any, make_contact: Any) -> None:
    make_contact("Anna", external_id="cust-1")
    shop = partner(["products:write", "orders:write"])
    product = shop.put(
        "/api/v1/products/by-external-id/BAG-030/", {"name": "Backpack", "price": "89.00"}, format="json"
    )
    assert product.status_code == 201 and product.json()["sku"] == "BAG-030"
    assert shop.put("/api/v1/products/by-external-id/BAG-030/", {"price": "79.00"}, format="json").status_code == 200
    assert Product.objects.get().price == 79

    order = {
        "contact_external_id": "cust-1",
        "ordered_at": "2026-03-01T10:00:00Z",
        "status": "paid",
        "currency": "EUR",
        "lines": [{"sku": "BAG-030", "quantity": 2}, {"sku": "BAG-030", "quantity": 1, "unit_price": "10.00"}],
    }
    created = shop.put("/api/v1/orders/by-external-id/SO-1/", order, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["number"], body["currency"], body["total"]) == ("SO-1", "EUR", "168.00")
    assert [line["line_total"] for line in body["lines"]] == ["158.00", "10.00"]

    changed = shop.put(
        "/api/v1/orders/by-external-id/SO-1/", {"lines": [{"sku": "BAG-030", "quantity": 1}]}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["total"] == "79.00"
    assert OrderLine.objects.count() == 1 and Order.objects.get().status == "paid"


def test_bad_orders_are_refused_whole(partner: Any) -> None:
    shop = partner(["orders:write"])
    response = shop.put(
        "/api/v1/orders/by-external-id/SO-2/",
        {"ordered_at": "2026-03-01T10:00:00Z", "lines": [{"sku": "NOPE", "quantity": 1}]},
        format="json",
    )
    assert problem(response, 400)["errors"][0]["field"] == "lines.0.sku"
    no_customer = shop.put("/api/v1/orders/by-external-id/SO-2/", {"ordered_at": "2026-03-01T10:00:00Z"}, format="json")
    assert problem(no_customer, 400)["errors"][0]["field"] == "contact"
    unknown = shop.put("/api/v1/orders/by-external-id/SO-2/", {"contact_external_id": "ghost"}, format="json")
    assert problem(unknown, 400)["errors"][0]["field"] == "contact_external_id"
    assert not Order.objects.exists()


def test_bulk_products(partner: Any) -> None:
    shop = partner(["products:write"])
    records = [{"sku": "A-1", "name": "A", "price": "1.00"}, {"sku": "B-1", "name": "B", "price": "-1"}]
    body = shop.post("/api/v1/products/bulk/", {"records": records}, format="json").json()
    assert [r["status"] for r in body["results"]] == ["created", "error"]
    assert body["results"][1]["errors"][0]["field"] == "price"
    assert list(Product.objects.values_list("sku", flat=True)) == ["A-1"]
