"""Deleting a contact or company from the admin hides it (soft delete); managers restore it from the
"Deleted …" list."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from crm.admin.base import AuditedAdmin
from crm.services.records import record_restore, record_soft_delete


class SoftDeleteAdminMixin:
    """Routes the admin's delete (single and bulk) through ``record_soft_delete``."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        record_soft_delete(record=obj, actor=request.user)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in queryset:
                record_soft_delete(record=obj, actor=request.user)  # type: ignore[arg-type]

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # Nothing is cascaded: the records move to the deleted list with everything attached to them.
        objs = list(objs)
        opts = self.model._meta  # type: ignore[attr-defined]
        names = [f"{opts.verbose_name}: {obj} (restorable from “Deleted {opts.verbose_name_plural}”)" for obj in objs]
        return names, {opts.verbose_name_plural: len(objs)}, set(), []


class DeletedRecordAdmin(AuditedAdmin):
    """Read-only list of soft-deleted records, with a restore action; only for those who may restore."""

    restore_permission = ""
    actions = ("restore",)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self.restore_permission)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(self.restore_permission)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_restore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self.restore_permission)

    @admin.action(description="Restore selected records", permissions=["restore"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            restored = [record_restore(record=obj, actor=request.user) for obj in queryset]  # type: ignore[arg-type]
        self.message_user(request, f"Restored {len(restored)} record(s).", messages.SUCCESS)
