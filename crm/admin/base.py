"""What every CRM admin shares: the field-level history page behind Django's "History" button."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.text import capfirst

from crm.audit import history_for


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Replaces the admin's message-only history with the audit trail: who changed which field, from
    what to what, when — including changes to the record's child rows (addresses, consents, lines)."""

    history_per_page = 25

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        model = self.model
        obj = model._base_manager.filter(pk=unquote(object_id)).first()
        if obj is None:
            raise Http404(f"No {model._meta.verbose_name} with id {object_id}")
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        paginator = Paginator(history_for(obj), self.history_per_page)
        page = paginator.get_page(request.GET.get("p", 1))
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {obj}",
            "module_name": str(capfirst(model._meta.verbose_name_plural)),
            "page_range": paginator.get_elided_page_range(page.number),
            "page_var": "p",
            "pagination_required": paginator.count > self.history_per_page,
            "object": obj,
            "opts": model._meta,
            "log_entries": page,
            "is_popup": IS_POPUP_VAR in request.GET,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "auditlog/object_history.html", context)
