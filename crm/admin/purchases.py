from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from crm.admin.base import AuditedAdmin
from crm.admin.importing import export_csv, export_xlsx
from crm.admin.inlines import OrderLineInline
from crm.models import Order, Product
from crm.services.purchases import order_recalculate_total


@admin.register(Product)
class ProductAdmin(AuditedAdmin):
    list_display = ("name", "sku", "price", "active", "updated_at")
    list_filter = ("active",)
    search_fields = ("name", "sku")
    list_per_page = 50


@admin.register(Order)
class OrderAdmin(AuditedAdmin):
    list_display = ("number", "contact", "company", "ordered_at", "status", "currency", "total")
    list_filter = ("status", "currency")
    list_select_related = ("contact", "company")
    search_fields = ("=number",)
    search_help_text = "Exact order number."
    autocomplete_fields = ("contact", "company")
    readonly_fields = ("total", "created_at", "updated_at")
    date_hierarchy = "ordered_at"
    show_full_result_count = False
    list_per_page = 50
    inlines = (OrderLineInline,)
    actions = (export_csv, export_xlsx)
    fields = (
        "number",
        ("contact", "company"),
        ("ordered_at", "status", "currency"),
        "total",
        ("created_at", "updated_at"),
    )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Still inside the admin's transaction: the lines and the total commit together or not at all.
        super().save_related(request, form, formsets, change)
        order_recalculate_total(order=form.instance)
