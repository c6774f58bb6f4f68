from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

from crm.models.base import TimeStamped

currency_code = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 currency code, e.g. EUR.")


class Product(TimeStamped):
    name = models.CharField(max_length=200)
    sku = models.CharField("SKU", max_length=64, unique=True)
    price = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="crm_product_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class Order(TimeStamped):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"

    number = models.CharField(max_length=64, unique=True)
    contact = models.ForeignKey("crm.Contact", null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    company = models.ForeignKey("crm.Company", null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    ordered_at = models.DateTimeField("date")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    currency = models.CharField(max_length=3, default="EUR", validators=[currency_code])
    # Derived from the lines by crm.services.purchases.order_recalculate_total in the same transaction
    # as every line change; never edited directly (not editable in forms, not accepted by the API).
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"), editable=False)

    class Meta:
        ordering = ["-ordered_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=False) | Q(company__isnull=False), name="crm_order_has_customer"
            ),
        ]
        indexes = [
            models.Index(fields=["contact", "-ordered_at"], name="crm_order_contact_idx"),
            models.Index(fields=["updated_at", "id"], name="crm_order_sync_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    def clean(self) -> None:
        self.currency = (self.currency or "").upper()
        if self.contact_id is None and self.company_id is None:
            raise ValidationError({"contact": "An order belongs to a contact or a company; choose one."})


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    # Computed by the database, so a line's amount can never disagree with its quantity and price.
    line_total = models.GeneratedField(
        expression=F("quantity") * F("unit_price"),
        output_field=models.DecimalField(max_digits=20, decimal_places=2),
        db_persist=True,
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="crm_orderline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="crm_orderline_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id}"

    def get_additional_data(self) -> dict[str, int]:
        return {"order_id": self.order_id}
