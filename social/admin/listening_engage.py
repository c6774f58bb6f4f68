"""The "Engage" box on a mention's page: answer its author (public or private reply, or a task).

``POST /admin/social/mention/<id>/engage/`` with ``mode`` and ``text`` calls ``mention_engage``. Replies
need the right to answer conversations (``social.change_conversation``), tasks the right to add
interactions (``crm.add_interaction``); read-only staff see the links but no form.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from crm.models import User
from social.listening.engage import MODE_LABELS, TASK, EngageRefused, engage_modes, mention_engage
from social.models import Mention


def allowed_modes(request: HttpRequest, mention: Mention) -> list[str]:
    user = request.user
    return [
        mode
        for mode in engage_modes(mention)
        if user.has_perm("crm.add_interaction" if mode == TASK else "social.change_conversation")
    ]


class MentionEngageMixin:
    change_form_template: Any = "admin/social/mention/change_form.html"

    admin_site: Any
    model: type[Mention]

    def get_urls(self) -> list[URLPattern]:
        engage = self.admin_site.admin_view(require_POST(self.engage_view))
        return [
            path("<path:object_id>/engage/", engage, name="social_mention_engage"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        mention = (
            Mention.objects.filter(pk=object_id).select_related("channel").first() if object_id.isdigit() else None
        )
        context = dict(extra_context or {})
        if mention is not None:
            context["engage_modes"] = [(mode, MODE_LABELS[mode]) for mode in allowed_modes(request, mention)]
            context["engage_url"] = reverse("admin:social_mention_engage", args=[mention.pk])
        return super().change_view(request, object_id, form_url, extra_context=context)  # type: ignore[misc, no-any-return]

    def engage_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        mention = get_object_or_404(Mention.objects.select_related("channel"), pk=object_id)
        mode = request.POST.get("mode", "")
        if mode in engage_modes(mention) and mode not in allowed_modes(request, mention):
            raise PermissionDenied
        page = reverse("admin:social_mention_change", args=[mention.pk])
        user = cast(User, request.user)  # admin_view: a signed-in staff member
        try:
            engaged = mention_engage(mention=mention, mode=mode, text=request.POST.get("text", ""), user=user)
        except EngageRefused as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(page)
        if mode == TASK and engaged.task is not None:
            messages.success(request, f"Task created for {engaged.task.staff}: {engaged.task.subject}")
        elif engaged.conversation is not None:
            messages.success(request, f"{MODE_LABELS[mode]} queued in {engaged.conversation}.")
            return HttpResponseRedirect(reverse("admin:social_conversation_change", args=[engaged.conversation.pk]))
        return HttpResponseRedirect(page)
