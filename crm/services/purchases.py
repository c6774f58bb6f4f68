"""Orders: the total is always the sum of the lines, recomputed in the transaction that changes them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from crm.models import Company, Contact, Order, OrderLine, Product
from crm.services.base import save_fields


@dataclass(frozen=True)
class LineInput:
    product: Product
    quantity: int
    unit_price: Decimal | None = None  # the product's current price when not given


def order_recalculate_total(*, order: Order) -> Order:
    """Set ``order.total`` from its lines (locks the order row so concurrent line edits serialise)."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        total = OrderLine.objects.filter(order=locked).aggregate(total=Sum("line_total"))["total"] or Decimal("0")
        if locked.total != total:
            locked.total = total
            save_fields(locked, ["total"])
    order.total = locked.total
    return locked


def order_create(
    *,
    number: str,
    contact: Contact | None,
    company: Company | None = None,
    ordered_at: dt.datetime,
    lines: list[LineInput],
    status: str = Order.Status.PAID,
    currency: str = "EUR",
) -> Order:
    """Create an order with its lines and derived total, all or nothing. Raises ``ValidationError``."""
    with transaction.atomic():
        order = Order(
            number=number, contact=contact, company=company, ordered_at=ordered_at, status=status, currency=currency
        )
        order.full_clean()
        order.save()
        for item in lines:
            line = OrderLine(
                order=order,
                product=item.product,
                quantity=item.quantity,
                unit_price=item.product.price if item.unit_price is None else item.unit_price,
            )
            line.full_clean(exclude=["line_total"])
            line.save()
        return order_recalculate_total(order=order)
