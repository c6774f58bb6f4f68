# ruff: noqa: F811 - the channel fixtures are imported from tests/social/conftest.py
"""Conversation and message events: a partner's helpdesk hears about new conversations and messages, who
they were assigned to, when they were resolved, and every change of a message's delivery status; never
about internal notes, and never about what its own key did."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from crm.models import Contact, User
from social.models import Channel, Conversation, Identity, Message
from social.services.conversations import conversation_assign
from social.services.outbound import note_add
from tests.api.webhooks_support import (  # noqa: F401 - fixtures
    PARTNER_SCOPES,
    HookTasks,
    Receiver,
    client_for,
    hooks_fixture,
    olga_fixture,
    receiver_fixture,
    subscribe,
)
from tests.social.conftest import TELEGRAM_TOKEN, fake_provider, make_channel, tasks  # noqa: F401 - fixtures

EVENTS = [
    "conversation.created", "conversation.assigned", "conversation.resolved", "message.created",
    "message.status_changed",
]  # fmt: skip


@pytest.fixture
def telegram(make_channel: Callable[..., Channel], fake_provider: Any) -> Channel:
    return make_channel(Channel.Kind.TELEGRAM, "Support bot", bot_token=TELEGRAM_TOKEN, api_base=fake_provider.url)


def test_helpdesk_hears_the_life_of_a_conversation(
    paul: User,
    olga: User,
    sam: User,
    receiver: Receiver,
    hooks: HookTasks,
    tasks: Any,
    fake_provider: Any,
    telegram: Channel,
    make_contact: Callable[..., Contact],
) -> None:
    desk, _ = client_for(olga, PARTNER_SCOPES)
    subscribe(desk, receiver, EVENTS)
    shop, _ = client_for(paul, ["conversations:write", "messages:write"])
    anna = make_contact("Anna", "Berg")

    # A customer writes (as inbound processing stores it).
    identity = Identity.objects.create(channel=telegram, external_id="4242", contact=anna, handle="@anna")
    conversation = Conversation.objects.create(
        channel=telegram, contact=anna, identity=identity, last_inbound_at=timezone.now()
    )
    Message.objects.create(
        conversation=conversation, channel=telegram, direction="in", text="Where is my order?",
        sender_type="contact", sender_contact=anna, status="received",
    )  # fmt: skip
    hooks.run()
    assert receiver.events() == ["conversation.created", "message.created"]
    assert all(r.verified for r in receiver.received)
    message = receiver.received[1].json()["data"]
    assert message["text"] == "Where is my order?" and message["conversation"] == conversation.pk
    assert message == desk.get(f"/api/v1/messages/{message['id']}/").json()

    # Staff assign it (again to the same agent: no second event), write a note (never announced).
    receiver.received.clear()
    conversation_assign(conversation=conversation, assignee=sam)
    conversation_assign(conversation=conversation, assignee=sam)
    note_add(conversation=conversation, text="VIP, be quick", user=sam)
    hooks.run()
    assert receiver.events() == ["conversation.assigned"]
    assert receiver.received[0].json()["data"]["assignee"] == sam.pk

    # Paul's tool replies and resolves it: Olga hears both; the reply's status change when it is sent too.
    receiver.received.clear()
    fake_provider.script((200, {"ok": True, "result": {"message_id": 99, "chat": {"id": 4242}}}))
    reply = shop.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "On its way!"}, format="json")
    assert reply.status_code == 202, reply.content
    hooks.run()
    tasks.run()
    hooks.run()
    resolved = shop.patch(f"/api/v1/conversations/{conversation.pk}/", {"status": "resolved"}, format="json")
    assert resolved.status_code == 200, resolved.content
    hooks.run()
    assert receiver.events() == ["message.created", "message.status_changed", "conversation.resolved"]
    statuses = [r.json()["data"]["status"] for r in receiver.received]
    assert statuses == ["queued", "sent", "resolved"]


def test_a_key_without_conversation_access_cannot_subscribe_to_them(paul: User, receiver: Receiver) -> None:
    contacts_only, _ = client_for(paul, ["webhooks:write", "contacts:read"])
    refused = contacts_only.post(
        "/api/v1/webhook-subscriptions/", {"url": receiver.url, "events": ["message.created"]}, format="json"
    )
    assert refused.status_code == 400
    assert "messages:read" in refused.json()["errors"][0]["message"]
