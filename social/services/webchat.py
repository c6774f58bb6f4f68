"""Web chat: what a visitor posts (stored like any webhook delivery) and what the visitor may read back.

1. ``webchat_message_post``: the visitor's message becomes an ``InboundEvent`` through ``inbound_event_store``,
   committed before the widget hears 202 and processed by the task worker; the event id is the visitor's
   client-generated message id, so a retried post stores one event (and one message).
2. ``webchat_thread``: the visitor's messages after a cursor, both directions, without internal notes, other
   visitors' messages, or replies that are not sent yet (queued) or failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.db.models import Min

from social.connectors.base import WebhookRequest
from social.connectors.webchat import message_body, visitor_message_id
from social.models import Channel, Identity, Message
from social.services.inbound import inbound_event_store

THREAD_PAGE = 200
_VISIBLE = (Message.Status.RECEIVED, Message.Status.SENT, Message.Status.DELIVERED, Message.Status.READ)


def webchat_message_post(
    *, channel: Channel, visitor_id: str, message_id: str, text: str, name: str = "", email: str = ""
) -> tuple[int, bool]:
    """Store the visitor's message durably for the worker; returns (the event's id, created)."""
    body = message_body(
        visitor_id=visitor_id, message_id=message_id, text=text, name=name, email=email, sent_at=time.time()
    )
    request = WebhookRequest(body=body, headers={"content-type": "application/json"})
    return inbound_event_store(
        channel=channel, request=request, provider_event_id=visitor_message_id(visitor_id, message_id)
    )


@dataclass(frozen=True)
class Thread:
    messages: list[dict[str, Any]]
    cursor: int  # poll again with ?after=<cursor>


def webchat_thread(*, channel: Channel, visitor_id: str, after: int = 0) -> Thread:
    """The visitor's visible messages with a primary key above ``after``, oldest first.

    The cursor never passes a reply that is still queued: a reply queued before the visitor's latest message
    becomes visible (sent) after it, and must still be picked up by the next poll. The widget drops repeats.
    """
    identity = Identity.objects.filter(channel=channel, external_id=visitor_id).only("contact_id").first()
    if identity is None:
        return Thread(messages=[], cursor=after)
    # The contact's conversations on this channel (merges move messages between them); the prefix keeps each
    # visitor to their own messages even then.
    mine = Message.objects.filter(
        channel=channel,
        conversation__channel=channel,
        conversation__contact_id=identity.contact_id,
        is_internal_note=False,
    )
    rows = list(
        mine.filter(
            pk__gt=after,
            status__in=_VISIBLE,
            provider_message_id__startswith=visitor_message_id(visitor_id, ""),
        )
        .select_related("sender_user")
        .order_by("pk")[:THREAD_PAGE]
    )
    cursor = rows[-1].pk if rows else after
    pending = (
        mine.filter(pk__gt=after, pk__lte=cursor)
        .filter(status=Message.Status.QUEUED, direction=Message.Direction.OUTBOUND)
        .aggregate(first=Min("pk"))["first"]
    )
    if pending is not None:
        cursor = pending - 1
    return Thread(messages=[_render(message, visitor_id) for message in rows], cursor=cursor)


def _render(message: Message, visitor_id: str) -> dict[str, Any]:
    inbound = message.direction == Message.Direction.INBOUND
    client_id = (message.provider_message_id or "").removeprefix(visitor_message_id(visitor_id, ""))
    return {
        "id": message.pk,
        "client_id": client_id if inbound else "",
        "from": "visitor" if inbound else "business",
        "author": "" if inbound or message.sender_user is None else message.sender_user.first_name,
        "text": message.text,
        "at": (message.sent_at or message.created_at).isoformat(),
    }
