"""Merge from the admin: pick two or more records, choose the one to keep, confirm; and the duplicates page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path


class MergeAdminMixin:
    """Adds the "Merge selected …" action (two-step: choose the survivor, then confirm) and a duplicates page."""

    merge_permission = ""
    merge_service: Callable[..., Any]
    duplicate_reasons: dict[str, str] = {}
    duplicate_keys: Callable[[str], QuerySet[Any]]
    duplicate_groups: Callable[[str, list[dict[str, Any]]], list[Any]]

    def has_merge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self.merge_permission)

    @admin.action(description="Merge selected records into one…", permissions=["merge"])
    def merge_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        records = list(queryset.order_by("pk"))
        opts = self.model._meta  # type: ignore[attr-defined]
        if len(records) < 2:
            self.message_user(request, f"Select at least two {opts.verbose_name_plural} to merge.", messages.ERROR)  # type: ignore[attr-defined]
            return None
        survivor_id = request.POST.get("survivor")
        if survivor_id and request.POST.get("confirm") == "yes":
            survivor = next((r for r in records if str(r.pk) == survivor_id), None)
            if survivor is None:
                self.message_user(request, "Choose the record to keep among the selected ones.", messages.ERROR)  # type: ignore[attr-defined]
                return None
            others = [r for r in records if r.pk != survivor.pk]
            try:
                result = self.merge_service(survivor=survivor, others=others, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)  # type: ignore[attr-defined]
                return None
            moved = sum(result.moved.values())
            self.message_user(  # type: ignore[attr-defined]
                request,
                f"Merged {len(others)} {opts.verbose_name_plural if len(others) > 1 else opts.verbose_name} into "
                f"{result.survivor}: {moved} related row(s) moved"
                + (f", filled in {', '.join(result.filled)}" if result.filled else "")
                + ".",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"Merge {opts.verbose_name_plural}",
            "opts": opts,
            "records": records,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,  # type: ignore[attr-defined]
        }
        return TemplateResponse(request, "admin/crm/merge_confirm.html", context)

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta  # type: ignore[attr-defined]
        extra = [
            path(
                "duplicates/",
                self.admin_site.admin_view(self.duplicates_view),  # type: ignore[attr-defined]
                name=f"{opts.app_label}_{opts.model_name}_duplicates",
            )
        ]
        return extra + super().get_urls()  # type: ignore[misc,no-any-return]

    def duplicates_view(self, request: HttpRequest) -> HttpResponse:
        from django.core.exceptions import PermissionDenied

        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        reason = request.GET.get("reason") or next(iter(self.duplicate_reasons))
        if reason not in self.duplicate_reasons:
            reason = next(iter(self.duplicate_reasons))
        page = Paginator(self.duplicate_keys(reason), 25).get_page(request.GET.get("p", 1))
        groups = self.duplicate_groups(reason, list(page.object_list))
        opts = self.model._meta  # type: ignore[attr-defined]
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"Likely duplicate {opts.verbose_name_plural}",
            "opts": opts,
            "reasons": self.duplicate_reasons,
            "reason": reason,
            "groups": groups,
            "page": page,
            "can_merge": self.has_merge_permission(request),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/crm/duplicates.html", context)
