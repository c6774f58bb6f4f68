"""WhatsApp Cloud API: entry[].changes[].value with messages and statuses; sending inside the 24-hour
window, templates outside it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from crm.models import ContactPhone
from social.models import Channel, Conversation, Message
from social.services.outbound import ReplyRefused, message_reply, message_send_template
from tests.social.conftest import APP_SECRET, meta_signature, post_json

PHONE_NUMBER_ID = "106540352242922"
WA_ID = "4915112345678"


def change(value: dict[str, Any]) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID}, **value}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA_ID", "changes": [{"field": "messages", "value": value}]}],
    }


def inbound(
    wamid: str = "wamid.HBgL1", text: str = "Hallo, wo ist meine Bestellung? Ich warte seit Tagen."
) -> dict[str, Any]:
    return change(
        {
            "contacts": [{"profile": {"name": "Klaus Weber"}, "wa_id": WA_ID}],
            "messages": [
                {
                    "from": WA_ID,
                    "id": wamid,
                    "timestamp": str(int(timezone.now().timestamp())),
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        }
    )


def status(wamid: str, state: str, **extra: Any) -> dict[str, Any]:
    return change(
        {"statuses": [{"id": wamid, "status": state, "timestamp": "1700000000", "recipient_id": WA_ID, **extra}]}
    )


def signed_post(channel: Channel, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    return post_json(Client(), channel, body, HTTP_X_HUB_SIGNATURE_256=meta_signature(body))


@pytest.fixture
def whatsapp(make_channel: Any, fake_provider: Any) -> Channel:
    return make_channel(
        Channel.Kind.WHATSAPP,
        phone_number_id=PHONE_NUMBER_ID,
        access_token="wa-system-user-token",
        app_secret=APP_SECRET,
        api_base=fake_provider.url,
    )


def test_message_links_to_existing_contact_by_phone(whatsapp: Channel, tasks: Any, make_contact: Any) -> None:
    klaus = make_contact("Klaus", "Weber", phone="+4915112345678")  # E.164, as the admin stores it
    assert signed_post(whatsapp, inbound()).status_code == 200
    tasks.run()
    message = Message.objects.get()
    assert message.conversation.contact == klaus and message.language == "de"
    assert message.conversation.identity.phone == "+4915112345678"


def test_new_sender_gets_a_contact_with_phone(whatsapp: Channel, tasks: Any) -> None:
    signed_post(whatsapp, inbound())
    tasks.run()
    contact = Message.objects.get().conversation.contact
    assert (contact.first_name, contact.last_name) == ("Klaus", "Weber")
    assert ContactPhone.objects.get(contact=contact).number == "+4915112345678"


def test_reply_inside_window_then_statuses(whatsapp: Channel, tasks: Any, fake_provider: Any, sam: Any) -> None:
    signed_post(whatsapp, inbound())
    tasks.run()
    fake_provider.script(
        (200, {"messaging_product": "whatsapp", "contacts": [{"wa_id": WA_ID}], "messages": [{"id": "wamid.OUT1"}]})
    )
    reply = message_reply(conversation=Conversation.objects.get(), text="Sie ist unterwegs.", user=sam)
    tasks.run()
    request = fake_provider.requests[-1]
    assert request.path == f"/{PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == "Bearer wa-system-user-token"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"preview_url": False, "body": "Sie ist unterwegs."},
    }
    for state in ("sent", "delivered", "read", "delivered"):  # a late "delivered" does not undo "read"
        signed_post(whatsapp, status("wamid.OUT1", state))
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "read" and reply.delivered_at is not None


def test_failed_status_shows_the_provider_error(whatsapp: Channel, tasks: Any, fake_provider: Any, sam: Any) -> None:
    signed_post(whatsapp, inbound())
    tasks.run()
    fake_provider.script((200, {"messages": [{"id": "wamid.OUT2"}]}))
    reply = message_reply(conversation=Conversation.objects.get(), text="Hallo", user=sam)
    tasks.run()
    error = {"code": 131026, "title": "Message undeliverable", "error_data": {"details": "Receiver incapable"}}
    signed_post(whatsapp, status("wamid.OUT2", "failed", errors=[error]))
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "failed" and reply.error == "Message undeliverable (code 131026) Receiver incapable"


def test_free_form_reply_outside_24h_is_refused_and_template_is_sent(
    whatsapp: Channel, tasks: Any, fake_provider: Any, sam: Any
) -> None:
    signed_post(whatsapp, inbound())
    tasks.run()
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - dt.timedelta(hours=25))
    conversation.refresh_from_db()

    with pytest.raises(ReplyRefused, match="approved template"):
        message_reply(conversation=conversation, text="Any news?", user=sam)
    assert not Message.objects.filter(direction="out").exists()

    fake_provider.script((200, {"messages": [{"id": "wamid.TPL"}]}))
    message = message_send_template(
        conversation=conversation, name="order_update", language="de", components=[], user=sam
    )
    tasks.run()
    body = fake_provider.requests[-1].json()
    assert body["type"] == "template"
    assert body["template"] == {"name": "order_update", "language": {"code": "de"}, "components": []}
    message.refresh_from_db()
    assert message.status == "sent"


def test_unsupported_message_type_is_ignored(whatsapp: Channel, tasks: Any) -> None:
    payload = change(
        {
            "messages": [
                {
                    "from": WA_ID,
                    "id": "wamid.R",
                    "timestamp": "1",
                    "type": "reaction",
                    "reaction": {"message_id": "x", "emoji": "👍"},
                }
            ]
        }
    )
    assert signed_post(whatsapp, payload).status_code == 200
    tasks.run()
    assert Message.objects.count() == 0


def test_rate_limit_code_is_retried(whatsapp: Channel, tasks: Any, fake_provider: Any, sam: Any) -> None:
    signed_post(whatsapp, inbound())
    tasks.run()
    fake_provider.script(
        (400, {"error": {"message": "Rate limit hit", "code": 130429}}),
        (200, {"messages": [{"id": "wamid.OK"}]}),
    )
    reply = message_reply(conversation=Conversation.objects.get(), text="Hallo", user=sam)
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "queued" and "Rate limit hit" in reply.error
    tasks.run_scheduled()
    reply.refresh_from_db()
    assert reply.status == "sent" and reply.send_attempts == 2
