from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from crm.models import Contact
from crm.timeline import Cursor, analysis_figures, timeline_page


class TimelineAdminMixin:
    """Adds the customer 360 (timeline and analysis) below the contact form.

    The admin sets ``change_form_template = "admin/crm/contact/change_form.html"``, which renders it.
    """

    timeline_page_size = 25

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = dict(extra_context or {})
        contact = (
            Contact.objects.select_related("analysis").filter(pk=object_id).first() if object_id.isdigit() else None
        )
        if contact is not None:
            cursor = Cursor.decode(request.GET.get("timeline_before"))
            entries, next_cursor = timeline_page(contact, cursor=cursor, size=self.timeline_page_size)
            context.update(
                timeline=entries,
                timeline_cursor=next_cursor.encode() if next_cursor else "",
                timeline_paged=cursor is not None,
                analysis_figures=analysis_figures(contact),
            )
        return super().change_view(request, object_id, form_url, context)  # type: ignore[misc,no-any-return]
