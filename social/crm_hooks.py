"""What social contributes to crm through crm's registries (crm never imports social).

- merge: a contact merge moves its identities and conversations (``identities_and_conversations_move``
  keeps "one open conversation per contact and channel" by joining the threads);
- customer 360: every message of the contact's conversations appears in its timeline;
- analysis: a message in either direction (not an internal note) counts as an interaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils.text import Truncator

from crm.activity import register_activity_source
from crm.merge import register_merge_handler
from crm.timeline import TimelineEntry, register_timeline_source


def _move(source: Any, survivor: Any) -> int:
    from social.models import Conversation, Identity
    from social.services.identities import identities_and_conversations_move

    moved = Identity.objects.filter(contact=source).count() + Conversation.objects.filter(contact=source).count()
    identities_and_conversations_move(from_contact=source, to_contact=survivor)
    return moved


def _messages(contact: Any, before: Callable[[str], Q], limit: int) -> list[TimelineEntry]:
    from social.models import Message

    rows = (
        Message.objects.filter(before("created_at"), conversation__contact=contact)
        .select_related("channel", "sender_user")
        .order_by("-created_at", "-pk")[:limit]
    )
    entries = []
    for m in rows:
        if m.is_internal_note:
            kind = "Internal note"
        else:
            kind = f"{'Inbound' if m.direction == 'in' else 'Outbound'} · {m.channel.get_kind_display()}"
        who = str(m.sender_user) if m.sender_user else ""
        entries.append(
            TimelineEntry(
                at=m.created_at,
                source="social.message",
                id=m.pk,
                kind=kind,
                title=Truncator(m.text or "(attachment)").chars(200) + (f" · {who}" if who else ""),
                url=reverse("admin:social_conversation_change", args=[m.conversation_id]),
            )
        )
    return entries


def register() -> None:
    # Identities and conversations both point at the contact; one call moves both (the second finds nothing).
    register_merge_handler("social.identity", _move)
    register_merge_handler("social.conversation", _move)
    register_timeline_source("social.message", _messages)
    register_activity_source(
        "social.message",
        "SELECT c.contact_id, m.created_at AS at FROM social_message m"
        " JOIN social_conversation c ON c.id = m.conversation_id WHERE m.is_internal_note = FALSE",
    )
