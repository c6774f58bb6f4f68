"""Twilio SMS: X-Twilio-Signature over URL + sorted params (also behind a proxy), empty TwiML, status
callbacks, and the Messages API with basic auth against a fake Twilio."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.test import Client

from social.models import Channel, Conversation, InboundEvent, Message
from social.services.outbound import message_reply
from tests.social.conftest import TWILIO_SID, TWILIO_TOKEN, post_form, twilio_signature

SENDER = "+14155550123"


def sms(sid: str = "SM11111111111111111111111111111111", body: str = "Is the store open on Sunday?") -> dict[str, str]:
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1",
        "MediaContentType0": "image/jpeg",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": "+14155550100",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": TWILIO_SID,
        "From": SENDER,
        "ApiVersion": "2010-04-01",
    }


@pytest.fixture
def twilio(make_channel: Any, fake_provider: Any) -> Channel:
    return make_channel(
        Channel.Kind.TWILIO_SMS,
        account_sid=TWILIO_SID,
        auth_token=TWILIO_TOKEN,
        from_number="+14155550100",
        api_base=fake_provider.url,
    )


def url_for(channel: Channel, base: str = "http://testserver") -> str:
    return f"{base}/webhooks/{channel.webhook_key}/"


def test_signed_sms_is_stored_and_answered_with_empty_twiml(twilio: Channel, tasks: Any) -> None:
    params = sms()
    response = post_form(Client(), twilio, params, HTTP_X_TWILIO_SIGNATURE=twilio_signature(url_for(twilio), params))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml") and b"<Response></Response>" in response.content
    tasks.run()
    message = Message.objects.get()
    assert message.provider_message_id == params["MessageSid"] and message.text == params["Body"]
    assert message.attachments[0]["mime_type"] == "image/jpeg"
    assert message.conversation.identity.phone == SENDER


def test_behind_a_proxy_the_public_https_url_is_checked(twilio: Channel, tasks: Any, settings: Any) -> None:
    settings.SOCIAL_TRUST_FORWARDED_HEADERS = True
    params = sms()
    public = url_for(twilio, "https://crm.example.com")
    response = post_form(
        Client(),
        twilio,
        params,
        HTTP_X_TWILIO_SIGNATURE=twilio_signature(public, params),
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="crm.example.com",
    )
    assert response.status_code == 200


def test_behind_a_proxy_without_trusting_it_the_signature_fails(twilio: Channel, tasks: Any) -> None:
    params = sms()
    public = url_for(twilio, "https://crm.example.com")
    response = post_form(
        Client(),
        twilio,
        params,
        HTTP_X_TWILIO_SIGNATURE=twilio_signature(public, params),
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="crm.example.com",
    )
    assert response.status_code == 403 and InboundEvent.objects.count() == 0


def test_tampered_body_is_refused(twilio: Channel, tasks: Any) -> None:
    params = sms()
    signature = twilio_signature(url_for(twilio), params)
    params["Body"] = "tampered"
    assert post_form(Client(), twilio, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403
    assert post_form(Client(), twilio, params).status_code == 401


def test_redelivery_stores_one_message(twilio: Channel, tasks: Any) -> None:
    params = sms()
    for _ in range(2):
        post_form(Client(), twilio, params, HTTP_X_TWILIO_SIGNATURE=twilio_signature(url_for(twilio), params))
    tasks.run()
    assert Message.objects.count() == 1


def test_reply_through_messages_api_and_status_callback(
    twilio: Channel, tasks: Any, fake_provider: Any, sam: Any, settings: Any
) -> None:
    settings.SOCIAL_PUBLIC_URL = "https://crm.example.com"
    params = sms()
    post_form(Client(), twilio, params, HTTP_X_TWILIO_SIGNATURE=twilio_signature(url_for(twilio), params))
    tasks.run()
    fake_provider.script((201, {"sid": "SM22222222222222222222222222222222", "status": "queued"}))
    reply = message_reply(conversation=Conversation.objects.get(), text="Yes, 10 to 4.", user=sam)
    tasks.run()

    request = fake_provider.requests[-1]
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert (
        request.headers["authorization"]
        == "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    )
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert form == {
        "To": SENDER,
        "From": "+14155550100",
        "Body": "Yes, 10 to 4.",
        "StatusCallback": f"https://crm.example.com/webhooks/{twilio.webhook_key}/",
    }
    reply.refresh_from_db()
    assert reply.status == "sent"

    callback = {
        "MessageSid": reply.provider_message_id,
        "MessageStatus": "delivered",
        "AccountSid": TWILIO_SID,
        "From": "+14155550100",
        "To": SENDER,
        "ApiVersion": "2010-04-01",
    }
    post_form(Client(), twilio, callback, HTTP_X_TWILIO_SIGNATURE=twilio_signature(url_for(twilio), callback))
    failed = {**callback, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    post_form(Client(), twilio, failed, HTTP_X_TWILIO_SIGNATURE=twilio_signature(url_for(twilio), failed))
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "delivered"  # an undelivered report after delivery does not undo it
    assert InboundEvent.objects.filter(provider_event_id__endswith=":delivered").exists()


def test_invalid_number_fails_with_twilio_message(twilio: Channel, tasks: Any, fake_provider: Any, sam: Any) -> None:
    params = sms()
    post_form(Client(), twilio, params, HTTP_X_TWILIO_SIGNATURE=twilio_signature(url_for(twilio), params))
    tasks.run()
    fake_provider.script(
        (400, {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400})
    )
    reply = message_reply(conversation=Conversation.objects.get(), text="Hi", user=sam)
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "failed"
    assert reply.error == "The 'To' number is not a valid phone number. (code 21211)"


def test_server_errors_retry_with_exponential_backoff_then_send(
    twilio: Channel, tasks: Any, fake_provider: Any, sam: Any, settings: Any
) -> None:
    params = sms()
    post_form(Client(), twilio, params, HTTP_X_TWILIO_SIGNATURE=twilio_signature(url_for(twilio), params))
    tasks.run()
    fake_provider.script((429, {"message": "Too Many Requests"}), (503, b"unavailable"), (201, {"sid": "SM3"}))
    settings.SOCIAL_SEND_BACKOFF_SECONDS = 0.05
    reply = message_reply(conversation=Conversation.objects.get(), text="Hi", user=sam)
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "queued" and reply.send_attempts == 1 and "HTTP 429" in reply.error
    assert tasks.scheduled[0][2] == reply.next_attempt_at
    assert (reply.next_attempt_at - reply.updated_at).total_seconds() == pytest.approx(0.05, abs=0.02)
    tasks.run_scheduled()
    reply.refresh_from_db()
    assert reply.status == "queued" and reply.send_attempts == 2 and "HTTP 503" in reply.error
    assert (reply.next_attempt_at - reply.updated_at).total_seconds() == pytest.approx(0.10, abs=0.02)  # doubled
    tasks.run_scheduled()
    reply.refresh_from_db()
    assert (reply.status, reply.provider_message_id, reply.send_attempts, reply.error) == ("sent", "SM3", 3, "")
    assert len(fake_provider.requests) == 3


def test_gives_up_after_max_attempts(twilio: Channel, tasks: Any, fake_provider: Any, sam: Any, settings: Any) -> None:
    settings.SOCIAL_SEND_MAX_ATTEMPTS = 2
    params = sms()
    post_form(Client(), twilio, params, HTTP_X_TWILIO_SIGNATURE=twilio_signature(url_for(twilio), params))
    tasks.run()
    fake_provider.default = (500, {"message": "boom"}, {})
    reply = message_reply(conversation=Conversation.objects.get(), text="Hi", user=sam)
    tasks.run()
    tasks.run_scheduled()
    reply.refresh_from_db()
    assert reply.status == "failed" and reply.error.startswith("gave up after 2 attempts")
    assert tasks.scheduled == []
