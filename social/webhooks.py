"""What social contributes to crm's partner webhooks (``crm.webhooks``; crm never imports social).

Conversations and messages become event resources, in the partner API's own representation (``social.api``):

- ``conversation.assigned`` and ``conversation.resolved`` are announced by their services
  (``social.services.conversations``);
- ``conversation.created``, ``message.created`` and ``message.status_changed`` come from plain saves here, a
  decoupled side effect (STYLE.md): conversations and messages are written by inbound processing, replies,
  the send task, delivery receipts and the web chat alike. Internal notes are never announced: partners never
  see them.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from crm.webhooks.events import register_webhook_resource, webhook_event

CONVERSATION_EVENTS = {
    "conversation.created": "A conversation was opened (a customer wrote for the first time on a channel)",
    "conversation.assigned": "A conversation's assignee changed (data.assignee: null when unassigned)",
    "conversation.resolved": "A conversation was resolved",
}
MESSAGE_EVENTS = {
    "message.created": "A message was received, or an outbound one queued for sending (never internal notes)",
    "message.status_changed": "A message's status changed (queued, sent, delivered, read, failed)",
}


def conversation_data(pk: int) -> dict[str, Any] | None:
    from social.api.conversations import ConversationSerializer
    from social.models import Conversation

    record = Conversation.objects.filter(pk=pk).first()
    return None if record is None else dict(ConversationSerializer(record).data)


def message_data(pk: int) -> dict[str, Any] | None:
    from social.api.messages import MessageSerializer
    from social.models import Message

    record = Message.objects.filter(pk=pk, is_internal_note=False).first()
    return None if record is None else dict(MessageSerializer(record).data)


def _conversation_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        webhook_event(record=instance, action="created")


def _message_saved(
    sender: Any, instance: Any, created: bool, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if raw or instance.is_internal_note:
        return
    if created:
        webhook_event(record=instance, action="created")
    elif update_fields is not None and "status" in update_fields:
        # Every status change saves with update_fields naming "status" (social.services.outbound, inbound).
        webhook_event(record=instance, action="status_changed")


def register() -> None:
    from social.models import Conversation, Message

    register_webhook_resource(
        "social.conversation", "conversation", conversation_data, scope="conversations", events=CONVERSATION_EVENTS
    )
    register_webhook_resource("social.message", "message", message_data, scope="messages", events=MESSAGE_EVENTS)
    post_save.connect(_conversation_saved, sender=Conversation, dispatch_uid="social.webhooks.conversation")
    post_save.connect(_message_saved, sender=Message, dispatch_uid="social.webhooks.message")
