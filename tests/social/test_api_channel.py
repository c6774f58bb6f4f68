"""Partner API channel: HMAC-signed inbound events, signed outbound webhooks to the partner's URL."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from django.test import Client

from social.models import Channel, Conversation, InboundEvent, Message
from social.services.outbound import message_reply
from tests.social.conftest import API_SECRET, api_headers, post_json


def event(event_id: str = "evt_1", message_id: str = "p-msg-1") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "message",
        "user": {
            "id": "partner-user-9",
            "name": "Lena Fischer",
            "email": "Lena@Example.com",
            "avatar_url": "https://partner.example/a.png",
        },
        "message": {"id": message_id, "text": "I would like to change my delivery address, please."},
    }


@pytest.fixture
def api_channel(make_channel: Any, fake_provider: Any) -> Channel:
    return make_channel(Channel.Kind.API, outbound_url=f"{fake_provider.url}/hooks/scrm", signing_secret=API_SECRET)


def send(channel: Channel, payload: dict[str, Any], **overrides: str) -> Any:
    body = json.dumps(payload).encode()
    return post_json(Client(), channel, body, **{**api_headers(body), **overrides})


def test_signed_event_links_identity_by_email(api_channel: Channel, tasks: Any, make_contact: Any) -> None:
    lena = make_contact("Lena", "Fischer", email="lena@example.com")
    assert send(api_channel, event()).status_code == 200
    tasks.run()
    message = Message.objects.get()
    assert message.conversation.contact == lena
    identity = message.conversation.identity
    assert identity.email == "lena@example.com" and identity.avatar_url == "https://partner.example/a.png"


def test_replay_of_the_same_event_id_stores_nothing_new(api_channel: Channel, tasks: Any) -> None:
    send(api_channel, event())
    send(api_channel, event())
    send(api_channel, event(event_id="evt_2"))  # same message under another event id
    tasks.run()
    assert InboundEvent.objects.count() == 2 and Message.objects.count() == 1


def test_bad_or_stale_signature_is_refused(api_channel: Channel, tasks: Any) -> None:
    body = json.dumps(event()).encode()
    assert post_json(Client(), api_channel, body).status_code == 401
    assert post_json(Client(), api_channel, body, **api_headers(body, secret="nope")).status_code == 403
    stale = api_headers(body, timestamp=int(time.time()) - 3600)
    assert post_json(Client(), api_channel, body, **stale).status_code == 403
    assert InboundEvent.objects.count() == 0


def test_unknown_event_type_is_stored_and_ignored(api_channel: Channel, tasks: Any) -> None:
    assert send(api_channel, {"id": "evt_x", "type": "typing"}).status_code == 200
    tasks.run()
    assert InboundEvent.objects.get().status == "ignored"


def test_missing_event_id_is_400(api_channel: Channel) -> None:
    assert send(api_channel, {"type": "message"}).status_code == 400


def test_reply_is_delivered_as_a_signed_webhook(api_channel: Channel, tasks: Any, fake_provider: Any, sam: Any) -> None:
    send(api_channel, event())
    tasks.run()
    fake_provider.script((200, {"id": "partner-out-1"}))
    reply = message_reply(conversation=Conversation.objects.get(), text="Done, Lena.", user=sam)
    tasks.run()

    request = fake_provider.requests[-1]
    assert request.path == "/hooks/scrm"
    stamp = request.headers["x-scrm-timestamp"]
    expected = hmac.new(API_SECRET.encode(), f"{stamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-scrm-signature"] == f"sha256={expected}"
    assert request.json() == {
        "type": "message",
        "id": f"scrm-msg-{reply.pk}",
        "recipient": {"id": "partner-user-9"},
        "message": {"text": "Done, Lena.", "attachments": []},
    }
    reply.refresh_from_db()
    assert reply.status == "sent" and reply.provider_message_id == "partner-out-1"

    send(api_channel, {"id": "evt_s", "type": "status", "status": {"message_id": "partner-out-1", "status": "read"}})
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "read"


def test_partner_refusal_fails_the_message(api_channel: Channel, tasks: Any, fake_provider: Any, sam: Any) -> None:
    send(api_channel, event())
    tasks.run()
    fake_provider.script((422, {"error": "unknown recipient"}))
    reply = message_reply(conversation=Conversation.objects.get(), text="Hi", user=sam)
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "failed" and "unknown recipient" in reply.error


def test_unreachable_partner_is_retried(api_channel: Channel, tasks: Any, sam: Any) -> None:
    send(api_channel, event())
    tasks.run()
    Channel.objects.filter(pk=api_channel.pk).update(config={"outbound_url": "http://127.0.0.1:9/closed"})
    reply = message_reply(conversation=Conversation.objects.get(), text="Hi", user=sam)
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "queued" and "cannot reach the provider" in reply.error
    assert len(tasks.scheduled) == 1
