"""``/api/v1/products/`` and ``/api/v1/orders/`` (with lines): read, and upsert by natural key. A product's
external id is its SKU, an order's its number: ``PUT /api/v1/orders/by-external-id/SO-1001/``. Products and
orders are deleted for good rather than soft-deleted, so they have no deletions feed yet."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from rest_framework import serializers

from crm.api.filters import IsoDateTimeFilter, SyncFilter
from crm.api.resources import SyncUpsertViewSet, document_resource
from crm.api.serializers import StrictModelSerializer, resolve_external_id
from crm.models import Company, Contact, Order, OrderLine, Product
from crm.services.purchase_writes import order_upsert, product_upsert


class ProductSerializer(StrictModelSerializer):
    class Meta:
        model = Product
        fields = ("id", "sku", "name", "price", "active", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")
        extra_kwargs = {"sku": {"required": False}, "name": {"required": False}, "price": {"required": False}}


class ProductFilter(SyncFilter):
    sku = filters.CharFilter(field_name="sku")
    active = filters.BooleanFilter(field_name="active")

    class Meta:
        model = Product
        fields: list[str] = []


class ProductViewSet(SyncUpsertViewSet):
    scope_resource = "products"
    scope_model = Product
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    upsert_key = "sku"
    upsert_service = staticmethod(product_upsert)


class OrderLineSerializer(StrictModelSerializer):
    sku = serializers.SlugRelatedField(source="product", slug_field="sku", queryset=Product.objects.all())
    unit_price = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True,
        help_text="Defaults to the product's current price",
    )  # fmt: skip
    line_total = serializers.DecimalField(max_digits=20, decimal_places=2, read_only=True)

    class Meta:
        model = OrderLine
        fields = ("id", "product", "sku", "quantity", "unit_price", "line_total")
        read_only_fields = ("id", "product", "line_total")


class OrderSerializer(StrictModelSerializer):
    contact = serializers.PrimaryKeyRelatedField(queryset=Contact.objects.all(), allow_null=True, required=False)
    contact_external_id = serializers.CharField(required=False, allow_null=True, write_only=True)
    company = serializers.PrimaryKeyRelatedField(queryset=Company.objects.all(), allow_null=True, required=False)
    company_external_id = serializers.CharField(required=False, allow_null=True, write_only=True)
    lines = OrderLineSerializer(many=True, required=False, help_text="A list replaces the stored lines")

    class Meta:
        model = Order
        fields = (
            "id", "number", "contact", "contact_external_id", "company", "company_external_id", "ordered_at",
            "status", "currency", "total", "lines", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = ("id", "total", "created_at", "updated_at")
        extra_kwargs = {"number": {"required": False}, "ordered_at": {"required": False}}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        resolve_external_id(attrs, "contact", Contact)
        resolve_external_id(attrs, "company", Company)
        return attrs


class OrderFilter(SyncFilter):
    status = filters.MultipleChoiceFilter(choices=Order.Status.choices)
    contact = filters.NumberFilter(field_name="contact_id")
    company = filters.NumberFilter(field_name="company_id")
    number = filters.CharFilter(field_name="number")
    ordered_after = IsoDateTimeFilter(field_name="ordered_at", lookup_expr="gte")
    ordered_before = IsoDateTimeFilter(field_name="ordered_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields: list[str] = []


class OrderViewSet(SyncUpsertViewSet):
    scope_resource = "orders"
    scope_model = Order
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    upsert_key = "number"
    upsert_service = staticmethod(order_upsert)

    def get_queryset(self) -> QuerySet[Order]:
        return Order.objects.prefetch_related("lines__product")


document_resource(ProductViewSet, "product", "products")
document_resource(OrderViewSet, "order", "orders")
