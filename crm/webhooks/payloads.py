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
    """Records as ``serializer_class`` shows them, by id: one read (and the queryset's prefetches) for any
    number; the single-record functions below read a list of one."""
    return {record.pk: dict(serializer_class(record).data) for record in queryset.filter(pk__in=ids)}


def companies_data(ids: list[int]) -> dict[int, dict[str, Any]]:
    from crm.api.companies import CompanySerializer
    from crm.models import Company

    return _many(CompanySerializer, Company.all_objects.prefetch_related("tags"), ids)  # soft-deleted too


def company_data(pk: int) -> dict[str, Any] | None:
    return companies_data([pk]).get(pk)


def interactions_data(ids: list[int]) -> dict[int, dict[str, Any]]:
    from crm.api.interactions import InteractionSerializer
    from crm.models import Interaction

    return _many(InteractionSerializer, Interaction.objects.all(), ids)


def interaction_data(pk: int) -> dict[str, Any] | None:
    return interactions_data([pk]).get(pk)


def orders_data(ids: list[int]) -> dict[int, dict[str, Any]]:
    from crm.api.purchases import OrderSerializer
    from crm.models import Order

    return _many(OrderSerializer, Order.objects.prefetch_related("lines__product"), ids)


def order_data(pk: int) -> dict[str, Any] | None:
    return orders_data([pk]).get(pk)


def register() -> None:
    register_webhook_resource("crm.contact", "contact", contact_data, scope="contacts", serialize_many=contacts_data)
    register_webhook_resource("crm.company", "company", company_data, scope="companies", serialize_many=companies_data)
    register_webhook_resource(
        "crm.interaction", "interaction", interaction_data, scope="interactions", serialize_many=interactions_data
    )
    register_webhook_resource("crm.order", "order", order_data, scope="orders", serialize_many=orders_data)
