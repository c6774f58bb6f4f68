"""``data`` of crm's events: the record exactly as the partner API serializes it (soft-deleted ones too)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from crm.webhooks.events import register_webhook_resource


def _one(serializer_class: Any, queryset: QuerySet[Any], pk: int) -> dict[str, Any] | None:
    record = queryset.filter(pk=pk).first()
    return None if record is None else dict(serializer_class(record).data)


def contact_data(pk: int) -> dict[str, Any] | None:
    from crm.api.contacts import ContactSerializer
    from crm.models import Contact, ContactEmail, ContactPhone

    queryset = Contact.all_objects.select_related("company").prefetch_related(
        Prefetch("emails", queryset=ContactEmail.objects.order_by("-is_primary", "id")),
        Prefetch("phones", queryset=ContactPhone.objects.order_by("-is_primary", "id")),
        "consents",
        "tags",
    )
    return _one(ContactSerializer, queryset, pk)


def contacts_data(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Many contacts at once, as ``contact_data`` gives each (the export's rows, ``crm.api.contact_export``:
    five queries for any number); soft-deleted ones are left out (``contact_data`` reads them)."""
    from crm.api.contact_export import contact_rows

    return {row["id"]: row for row in contact_rows(ids)}


def _many(serializer_class: Any, queryset: QuerySet[Any], ids: list[int]) -> dict[int, dict[str, Any]]:
    """``_one`` for many records: one read (and the querysets' prefetches) for any number."""
    return {record.pk: dict(serializer_class(record).data) for record in queryset.filter(pk__in=ids)}


def _companies() -> QuerySet[Any]:
    from crm.models import Company

    companies: QuerySet[Any] = Company.all_objects.prefetch_related("tags")  # soft-deleted ones too
    return companies


def _interactions() -> QuerySet[Any]:
    from crm.models import Interaction

    return Interaction.objects.all()


def _orders() -> QuerySet[Any]:
    from crm.models import Order

    return Order.objects.prefetch_related("lines__product")


def company_data(pk: int) -> dict[str, Any] | None:
    from crm.api.companies import CompanySerializer

    return _one(CompanySerializer, _companies(), pk)


def companies_data(ids: list[int]) -> dict[int, dict[str, Any]]:
    from crm.api.companies import CompanySerializer

    return _many(CompanySerializer, _companies(), ids)


def interaction_data(pk: int) -> dict[str, Any] | None:
    from crm.api.interactions import InteractionSerializer

    return _one(InteractionSerializer, _interactions(), pk)


def interactions_data(ids: list[int]) -> dict[int, dict[str, Any]]:
    from crm.api.interactions import InteractionSerializer

    return _many(InteractionSerializer, _interactions(), ids)


def order_data(pk: int) -> dict[str, Any] | None:
    from crm.api.purchases import OrderSerializer

    return _one(OrderSerializer, _orders(), pk)


def orders_data(ids: list[int]) -> dict[int, dict[str, Any]]:
    from crm.api.purchases import OrderSerializer

    return _many(OrderSerializer, _orders(), ids)


def register() -> None:
    register_webhook_resource("crm.contact", "contact", contact_data, scope="contacts", serialize_many=contacts_data)
    register_webhook_resource("crm.company", "company", company_data, scope="companies", serialize_many=companies_data)
    register_webhook_resource(
        "crm.interaction", "interaction", interaction_data, scope="interactions", serialize_many=interactions_data
    )
    register_webhook_resource("crm.order", "order", order_data, scope="orders", serialize_many=orders_data)
