from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from crm.models import Interaction


class OverdueTaskFilter(admin.SimpleListFilter):
    """Contacts (or companies) with at least one open task past its due date."""

    title = "overdue task"
    parameter_name = "overdue_task"
    owner_field = "contact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has an overdue task"), ("no", "No overdue task")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in {"yes", "no"}:
            return queryset
        overdue = Exists(Interaction.objects.overdue_tasks().filter(**{self.owner_field: OuterRef("pk")}))
        return queryset.filter(overdue) if self.value() == "yes" else queryset.exclude(overdue)


class CompanyOverdueTaskFilter(OverdueTaskFilter):
    owner_field = "company"


class InteractionOverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Overdue tasks")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.overdue_tasks()  # type: ignore[attr-defined, no-any-return]
        return queryset


class StaffOwnerFilter(admin.RelatedFieldListFilter):
    """Owner filter listing staff only (never customers' or partners' accounts)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> Any:
        return field.get_choices(include_blank=False, limit_choices_to={"is_staff": True}, ordering=("username",))
