"""Routing traces in templates: ``{% routing_runs conversation %}`` (the latest runs, on the conversation page)
and the ``seen`` filter that prints a value seen by a condition. Everything is autoescaped."""

from __future__ import annotations

from typing import Any

from django import template

from routing.models import RoutingRun

register = template.Library()
LATEST_RUNS = 3


@register.filter
def seen(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) if value else "—"
    return str(value)


@register.inclusion_tag("admin/routing/conversation_runs.html")
def routing_runs(conversation: Any) -> dict[str, Any]:
    runs = list(RoutingRun.objects.filter(conversation_id=conversation.pk).order_by("-created_at", "-id")[:LATEST_RUNS])
    return {"runs": runs, "conversation": conversation, "more": len(runs) == LATEST_RUNS}
