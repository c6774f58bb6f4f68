from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from crm.models import Contact, ContactConsent, ContactEmail, ContactPhone, Interaction, Order, OrderLine


class ContactEmailInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ContactEmail
    extra = 0
    fields = ("email", "label", "is_primary")


class ContactPhoneInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ContactPhone
    extra = 0
    fields = ("number", "label", "is_primary")


class ContactConsentInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ContactConsent
    extra = 0
    fields = ("channel", "status", "recorded_at", "method", "note")


class ContactInteractionInline(admin.TabularInline):  # type: ignore[type-arg]
    """Recent touchpoints on the contact page; new ones are attributed to whoever adds them."""

    model = Interaction
    fk_name = "contact"
    extra = 0
    fields = ("kind", "direction", "subject", "occurred_at", "due_at", "done", "staff")
    readonly_fields = ("staff",)
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Interaction]:
        return super().get_queryset(request).select_related("staff")


class ContactOrderInline(admin.TabularInline):  # type: ignore[type-arg]
    """Purchase history, read-only here: orders are edited on their own page (lines and total together)."""

    model = Order
    fk_name = "contact"
    extra = 0
    fields = ("number", "ordered_at", "status", "currency", "total")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CompanyContactInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Contact
    extra = 0
    fields = ("first_name", "last_name", "job_title", "stage")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderLineInline(admin.TabularInline):  # type: ignore[type-arg]
    model = OrderLine
    extra = 1
    fields = ("product", "quantity", "unit_price", "line_total")
    readonly_fields = ("line_total",)
    autocomplete_fields = ("product",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderLine]:
        return super().get_queryset(request).select_related("product")
