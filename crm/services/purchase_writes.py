"""Products and orders written by partners: upserted by their natural keys (a product's SKU, an order's
number); an order's lines, when given, replace the stored ones and the total is recomputed in the same
transaction (``order_recalculate_total``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.models import Order, OrderLine, Product, User
from crm.services.base import save_fields
from crm.services.purchases import order_recalculate_total
from crm.services.writes import Errors, assign_fields, clean_into, upsert_by_external_id

PRODUCT_FIELDS = ("sku", "name", "price", "active")
ORDER_FIELDS = ("number", "contact", "company", "ordered_at", "status", "currency")


def product_create(*, data: dict[str, Any], actor: User | None) -> Product:
    return _write_product(Product(), data, creating=True)


def product_update(*, record: Product, data: dict[str, Any], actor: User | None) -> Product:
    with transaction.atomic():
        return _write_product(Product.objects.select_for_update().get(pk=record.pk), data, creating=False)


def product_upsert(
    *, external_id: str, data: dict[str, Any], actor: User | None, check: Any = None
) -> tuple[Product, bool]:
    """Create or update the product whose SKU is ``external_id``."""
    return upsert_by_external_id(
        Product, external_id=external_id, data=data, create=product_create, update=product_update, actor=actor,
        check=check, key_field="sku",
    )  # fmt: skip


def _write_product(product: Product, data: dict[str, Any], *, creating: bool) -> Product:
    changed = assign_fields(product, data, PRODUCT_FIELDS)
    errors: Errors = {}
    clean_into(product, errors)
    if errors:
        raise ValidationError(errors)
    if creating:
        product.save()
    elif changed:
        save_fields(product, changed)
    return product


def order_create_from_data(*, data: dict[str, Any], actor: User | None) -> Order:
    """An order from the partner API's validated fields (``crm.services.purchases.order_create`` is the one
    for code that has the contact and the lines in hand)."""
    return _write_order(Order(), data, creating=True)


def order_update_from_data(*, record: Order, data: dict[str, Any], actor: User | None) -> Order:
    with transaction.atomic():
        return _write_order(Order.objects.select_for_update().get(pk=record.pk), data, creating=False)


def order_upsert(
    *, external_id: str, data: dict[str, Any], actor: User | None, check: Any = None
) -> tuple[Order, bool]:
    """Create or update the order whose number is ``external_id``."""
    return upsert_by_external_id(
        Order, external_id=external_id, data=data, create=order_create_from_data, update=order_update_from_data,
        actor=actor, check=check, key_field="number",
    )  # fmt: skip


def _write_order(order: Order, data: dict[str, Any], *, creating: bool) -> Order:
    """1. Assign and validate the order and every line (all errors at once); 2. save; 3. when the lines
    differ from the stored ones, replace them and recompute the total; 4. bump ``updated_at`` if only lines changed."""
    currency_before = order.currency
    changed = assign_fields(order, data, ORDER_FIELDS)
    errors: Errors = {}
    clean_into(order, errors, exclude=["total"])
    if order.currency != currency_before and "currency" not in changed:
        changed.append("currency")  # normalised (upper-cased) by Order.clean
    lines = [_line(order, index, item, errors) for index, item in enumerate(data.get("lines", []))]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if creating:
            order.save()
        elif changed:
            save_fields(order, changed)
        if "lines" in data:
            stored = list(OrderLine.objects.filter(order=order).values_list("product_id", "quantity", "unit_price"))
            wanted = [(line.product_id, line.quantity, line.unit_price) for line in lines]
            if stored != wanted:
                for old in OrderLine.objects.filter(order=order):
                    old.delete()  # one audited deletion per line
                for line in lines:
                    line.order = order
                    line.save()
                total_before = order.total
                order = order_recalculate_total(order=order)
                if order.total == total_before and not creating and not changed:
                    save_fields(order, [])
    return order


def _line(order: Order, index: int, item: dict[str, Any], errors: Errors) -> OrderLine:
    product: Product = item["product"]
    unit_price = item.get("unit_price")
    line = OrderLine(
        product=product, quantity=item["quantity"], unit_price=product.price if unit_price is None else unit_price
    )
    clean_into(line, errors, prefix=f"lines.{index}.", exclude=["order", "line_total"])
    return line
