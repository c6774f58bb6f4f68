"""Telegram bot: updates with the secret-token header in, sendMessage out, against a fake Bot API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from crm.models import Contact
from social.models import Channel, Conversation, Identity, InboundEvent, Message
from social.services.outbound import message_reply
from tests.social.conftest import TELEGRAM_TOKEN, post_json


def update(
    update_id: int = 1001,
    message_id: int = 7,
    text: str = "Hello, my order never arrived and I am really angry about it!",
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": {"id": 4242, "is_bot": False, "first_name": "Tom", "last_name": "Baker", "username": "tombaker"},
            "chat": {"id": 4242, "type": "private", "first_name": "Tom"},
            "date": 1_700_000_000,
            "text": text,
        },
    }


@pytest.fixture
def telegram(make_channel: Any, fake_provider: Any) -> Channel:
    return make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN, api_base=fake_provider.url)


def secret_header(channel: Channel) -> dict[str, str]:
    return {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": channel.secret("webhook_secret")}


def test_update_creates_contact_conversation_and_message(telegram: Channel, tasks: Any) -> None:
    response = post_json(Client(), telegram, update(), **secret_header(telegram))

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.provider_event_id == "update:1001" and event.status == "pending"
    assert tasks.queued == []  # only after commit
    tasks.run()

    event.refresh_from_db()
    assert event.status == "processed" and event.attempts == 1
    identity = Identity.objects.get()
    assert (identity.external_id, identity.handle, identity.display_name) == ("4242", "tombaker", "Tom Baker")
    contact = identity.contact
    assert (contact.first_name, contact.last_name, contact.source) == ("Tom", "Baker", "Telegram bot")
    message = Message.objects.get()
    assert message.direction == "in" and message.provider_message_id == "4242:7"
    assert message.sender_contact == contact and message.status == "received"
    assert message.language == "en" and message.sentiment is not None and message.sentiment < 0
    conversation = Conversation.objects.get()
    assert conversation.status == "open" and conversation.last_inbound_at is not None


def test_redelivered_update_stores_one_message(telegram: Channel, tasks: Any) -> None:
    client = Client()
    for _ in range(2):
        assert post_json(client, telegram, update(), **secret_header(telegram)).status_code == 200
    tasks.run()
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_same_message_in_two_updates_is_stored_once(telegram: Channel, tasks: Any) -> None:
    client = Client()
    post_json(client, telegram, update(update_id=1), **secret_header(telegram))
    post_json(client, telegram, update(update_id=2), **secret_header(telegram))
    tasks.run()
    assert InboundEvent.objects.count() == 2
    assert Message.objects.count() == 1


def test_processing_twice_is_a_no_op(telegram: Channel, tasks: Any) -> None:
    from social.tasks import process_inbound_event

    post_json(Client(), telegram, update(), **secret_header(telegram))
    tasks.run()
    event = InboundEvent.objects.get()
    assert process_inbound_event(event.pk) == "processed"
    event.refresh_from_db()
    assert event.attempts == 1 and Message.objects.count() == 1


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": "nope"}, 403)])
def test_missing_or_wrong_secret_is_refused_and_logged(
    telegram: Channel, tasks: Any, headers: dict[str, str], status: int, caplog: Any
) -> None:
    with caplog.at_level("WARNING", logger="django.security.social"):
        response = post_json(Client(), telegram, update(), **headers)
    assert response.status_code == status
    assert InboundEvent.objects.count() == 0 and Contact.objects.count() == 0
    assert "webhook signature refused" in caplog.text


def test_unsupported_update_is_stored_acknowledged_and_ignored(telegram: Channel, tasks: Any) -> None:
    payload = {"update_id": 5, "edited_message": update()["message"]}
    assert post_json(Client(), telegram, payload, **secret_header(telegram)).status_code == 200
    tasks.run()
    assert InboundEvent.objects.get().status == "ignored"
    assert Message.objects.count() == 0


def test_reply_is_sent_through_the_bot_api(telegram: Channel, tasks: Any, fake_provider: Any, sam: Any) -> None:
    post_json(Client(), telegram, update(), **secret_header(telegram))
    tasks.run()
    fake_provider.script((200, {"ok": True, "result": {"message_id": 99, "chat": {"id": 4242}}}))

    reply = message_reply(conversation=Conversation.objects.get(), text="Sorry! Checking now.", user=sam)
    assert reply.status == "queued"
    tasks.run()

    reply.refresh_from_db()
    assert reply.error == ""
    request = fake_provider.requests[-1]
    assert request.method == "POST" and request.path == f"/bot{TELEGRAM_TOKEN}/sendMessage"
    assert request.json() == {"chat_id": "4242", "text": "Sorry! Checking now."}
    reply.refresh_from_db()
    assert (reply.status, reply.provider_message_id, reply.send_attempts) == ("sent", "4242:99", 1)
    assert Conversation.objects.get().first_response_at is not None


def test_bot_api_error_fails_the_message_with_its_description(
    telegram: Channel, tasks: Any, fake_provider: Any, sam: Any
) -> None:
    post_json(Client(), telegram, update(), **secret_header(telegram))
    tasks.run()
    fake_provider.script((400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}))
    reply = message_reply(conversation=Conversation.objects.get(), text="Hi", user=sam)
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "failed" and reply.error == "Bad Request: chat not found"
    assert tasks.scheduled == []


def test_register_webhook_sends_url_and_secret(telegram: Channel, fake_provider: Any, settings: Any) -> None:
    from social.services.channels import channel_register_webhook

    settings.SOCIAL_PUBLIC_URL = "https://crm.example.com"
    fake_provider.script((200, {"ok": True, "result": True}))
    assert channel_register_webhook(channel=telegram) is True
    request = fake_provider.requests[-1]
    assert request.path == f"/bot{TELEGRAM_TOKEN}/setWebhook"
    assert request.json()["url"] == f"https://crm.example.com/webhooks/{telegram.webhook_key}/"
    assert request.json()["secret_token"] == telegram.secret("webhook_secret")
