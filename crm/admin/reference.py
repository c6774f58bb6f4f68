"""Tags and custom attribute definitions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from crm.admin.base import AuditedAdmin
from crm.models import AttributeDefinition, Contact, Tag


@admin.register(Tag)
class TagAdmin(AuditedAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(AuditedAdmin):
    list_display = ("key", "label", "type", "required", "position")
    list_editable = ("position",)
    list_filter = ("type", "required")
    search_fields = ("key", "label")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The key is what stored values hang off; renaming it would orphan every contact's value.
        return ("key",) if obj is not None else ()

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for definition in objs:
            in_use = Contact.all_objects.filter(attributes__has_key=definition.key).count()
            if in_use:
                protected.append(f"{in_use} contact(s) have a value for “{definition.key}”; clear them first")
        return deleted, counts, perms_needed, protected
