"""Messenger and Instagram: Meta's handshake and X-Hub-Signature-256, messages, echoes, receipts, and
sending through a fake Graph API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from social.models import Channel, Conversation, Identity, InboundEvent, Message
from social.services.outbound import message_reply
from tests.social.conftest import APP_SECRET, meta_signature, post_json

PAGE_ID = "1234567890"
PSID = "24681357"


def messaging(*items: dict[str, Any], obj: str = "page") -> dict[str, Any]:
    return {"object": obj, "entry": [{"id": PAGE_ID, "time": 1_700_000_000_000, "messaging": list(items)}]}


def text_message(mid: str = "m_abc", text: str = "Thank you, the jacket is wonderful!") -> dict[str, Any]:
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1_700_000_000_000,
        "message": {
            "mid": mid,
            "text": text,
            "attachments": [{"type": "image", "payload": {"url": "https://scontent.example/photo.jpg"}}],
        },
    }


def signed_post(client: Client, channel: Channel, payload: dict[str, Any], secret: str = APP_SECRET) -> Any:
    body = json.dumps(payload).encode()
    return post_json(client, channel, body, HTTP_X_HUB_SIGNATURE_256=meta_signature(body, secret))


@pytest.fixture(params=[Channel.Kind.MESSENGER, Channel.Kind.INSTAGRAM])
def meta_channel(request: Any, make_channel: Any, fake_provider: Any) -> Channel:
    return make_channel(
        request.param, page_id=PAGE_ID, access_token="page-token-xyz", app_secret=APP_SECRET, api_base=fake_provider.url
    )


def obj_for(channel: Channel) -> str:
    return "page" if channel.kind == Channel.Kind.MESSENGER else "instagram"


def test_handshake_echoes_the_challenge_only_with_the_verify_token(meta_channel: Channel) -> None:
    url = f"/webhooks/{meta_channel.webhook_key}/"
    token = meta_channel.config["verify_token"]
    ok = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.content == b"1158201444"
    wrong = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert wrong.status_code == 403


def test_signed_message_creates_a_conversation(meta_channel: Channel, tasks: Any) -> None:
    response = signed_post(Client(), meta_channel, messaging(text_message(), obj=obj_for(meta_channel)))
    assert response.status_code == 200
    tasks.run()
    message = Message.objects.get()
    assert message.text.startswith("Thank you") and message.language == "en" and message.sentiment > 0.5
    assert message.attachments == [{"type": "image", "url": "https://scontent.example/photo.jpg"}]
    assert Identity.objects.get().external_id == PSID
    assert InboundEvent.objects.get().status == "processed"


def test_redelivery_and_rebatching_store_one_message(meta_channel: Channel, tasks: Any) -> None:
    obj = obj_for(meta_channel)
    client = Client()
    signed_post(client, meta_channel, messaging(text_message(), obj=obj))
    signed_post(client, meta_channel, messaging(text_message(), obj=obj))  # same body: same event
    signed_post(client, meta_channel, messaging(text_message(), text_message("m_2"), obj=obj))  # re-batched
    tasks.run()
    assert InboundEvent.objects.count() == 2
    assert sorted(Message.objects.values_list("provider_message_id", flat=True)) == ["m_2", "m_abc"]


@pytest.mark.parametrize(("header", "status"), [(None, 401), ("sha256=00", 403), ("wrong-secret", 403)])
def test_bad_signature_is_refused(meta_channel: Channel, tasks: Any, header: str | None, status: int) -> None:
    body = json.dumps(messaging(text_message(), obj=obj_for(meta_channel))).encode()
    headers = {}
    if header == "wrong-secret":
        headers["HTTP_X_HUB_SIGNATURE_256"] = meta_signature(body, "another-secret")
    elif header:
        headers["HTTP_X_HUB_SIGNATURE_256"] = header
    assert post_json(Client(), meta_channel, body, **headers).status_code == status
    assert InboundEvent.objects.count() == 0


def test_postback_is_stored_and_ignored(meta_channel: Channel, tasks: Any) -> None:
    postback = {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1, "postback": {"payload": "GO"}}
    assert signed_post(Client(), meta_channel, messaging(postback, obj=obj_for(meta_channel))).status_code == 200
    tasks.run()
    assert InboundEvent.objects.get().status == "ignored"


def test_malformed_body_is_400(meta_channel: Channel) -> None:
    assert signed_post(Client(), meta_channel, {"object": "page"}).status_code == 400


def test_reply_echo_delivery_and_read(meta_channel: Channel, tasks: Any, fake_provider: Any, sam: Any) -> None:
    obj = obj_for(meta_channel)
    signed_post(Client(), meta_channel, messaging(text_message(), obj=obj))
    tasks.run()
    fake_provider.script((200, {"recipient_id": PSID, "message_id": "m_reply"}))
    reply = message_reply(conversation=Conversation.objects.get(), text="Glad you like it!", user=sam)
    tasks.run()

    request = fake_provider.requests[-1]
    assert request.path == f"/{PAGE_ID}/messages"
    assert request.headers["authorization"] == "Bearer page-token-xyz"
    assert request.json() == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Glad you like it!"},
    }
    reply.refresh_from_db()
    assert reply.status == "sent" and reply.provider_message_id == "m_reply"

    echo = {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": PSID},
        "timestamp": 1,
        "message": {"mid": "m_reply", "is_echo": True, "text": "Glad you like it!"},
    }
    delivery = {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 2, "delivery": {"mids": ["m_reply"]}}
    signed_post(Client(), meta_channel, messaging(echo, delivery, obj=obj))
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "delivered" and Message.objects.count() == 2  # the echo of our reply adds nothing

    watermark = int(reply.sent_at.timestamp() * 1000) + 1000
    read = {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 3, "read": {"watermark": watermark}}
    signed_post(Client(), meta_channel, messaging(read, obj=obj))
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "read" and reply.read_at is not None


def test_echo_from_another_tool_is_recorded_as_system_message(meta_channel: Channel, tasks: Any) -> None:
    obj = obj_for(meta_channel)
    signed_post(Client(), meta_channel, messaging(text_message(), obj=obj))
    echo = {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": PSID},
        "timestamp": 1,
        "message": {"mid": "m_other_tool", "is_echo": True, "text": "Sent from the Page inbox"},
    }
    signed_post(Client(), meta_channel, messaging(echo, obj=obj))
    tasks.run()
    echoed = Message.objects.get(provider_message_id="m_other_tool")
    assert echoed.direction == "out" and echoed.sender_type == "system" and echoed.status == "sent"


def test_graph_error_fails_with_meta_message(meta_channel: Channel, tasks: Any, fake_provider: Any, sam: Any) -> None:
    signed_post(Client(), meta_channel, messaging(text_message(), obj=obj_for(meta_channel)))
    tasks.run()
    error = {"error": {"message": "(#100) No matching user found", "type": "OAuthException", "code": 100}}
    fake_provider.script((400, error))
    reply = message_reply(conversation=Conversation.objects.get(), text="Hello?", user=sam)
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "failed" and reply.error == "(#100) No matching user found (code 100)"


def test_an_echo_between_customer_messages_keeps_its_place_when_drained_together(
    meta_channel: Channel, tasks: Any
) -> None:
    obj = obj_for(meta_channel)
    echo = {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": PSID},
        "timestamp": 1,
        "message": {"mid": "m_other_tool", "is_echo": True, "text": "Sent from the Page inbox"},
    }
    signed_post(Client(), meta_channel, messaging(text_message("m_1", "Is it in stock?"), obj=obj))
    signed_post(Client(), meta_channel, messaging(echo, obj=obj))
    signed_post(Client(), meta_channel, messaging(text_message("m_2", "Great, thanks"), obj=obj))
    tasks.run()  # one drain stores the three events as one batch
    thread = Conversation.objects.get().messages.order_by("created_at", "pk")
    assert [(m.direction, m.text) for m in thread] == [
        ("in", "Is it in stock?"),
        ("out", "Sent from the Page inbox"),
        ("in", "Great, thanks"),
    ]
