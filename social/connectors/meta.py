"""Facebook Messenger and Instagram messaging through Meta's webhooks and the Graph API.

Inbound: the GET handshake (``hub.mode=subscribe``, ``hub.verify_token``, answer ``hub.challenge``), then
POSTs signed with ``X-Hub-Signature-256: sha256=<HMAC-SHA256(app secret, raw body)>``. One POST may batch
several entries; it is stored once (id = hash of the body) and each message is de-duplicated by its
``mid``. ``messaging[]`` items carry ``message`` (with ``is_echo`` for messages the page sent),
``delivery`` (mids and/or a watermark) or ``read`` (a watermark; Instagram gives a ``mid``).
Outbound: ``POST <api_base>/<page id>/messages`` with the page access token as a Bearer token.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, ClassVar

from django.http import HttpRequest, HttpResponse

from social.connectors.base import (
    Attachment,
    Connector,
    CredentialField,
    InboundMessage,
    MalformedPayload,
    NormalisedEvent,
    OutgoingMessage,
    PermanentSendError,
    SendResult,
    StatusUpdate,
    WebhookRequest,
    check_prefixed_signature,
    from_timestamp,
    hmac_hex,
    require_secret,
)
from social.connectors.http import request_json
from social.models import Channel

GRAPH_API = "https://graph.facebook.com/v21.0"
# Graph error codes that mean "slow down" or "try again" even when the HTTP status is 400.
_TRANSIENT_CODES = {1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131048, 131056}


def meta_error_text(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        return f"{error.get('message', 'error')} (code {error.get('code')})"
    return str(data or "")


def meta_transient(data: Any) -> bool:
    return (
        isinstance(data, dict) and isinstance(data.get("error"), dict) and data["error"].get("code") in _TRANSIENT_CODES
    )


def meta_verify_signature(channel: Channel, request: WebhookRequest) -> None:
    secret = require_secret(channel, "app_secret")
    check_prefixed_signature(request.header("X-Hub-Signature-256"), hmac_hex(secret, request.body))


def meta_handshake(channel: Channel, request: HttpRequest) -> HttpResponse:
    expected = channel.setting("verify_token")
    given = request.GET.get("hub.verify_token", "")
    if request.GET.get("hub.mode") == "subscribe" and expected and hmac.compare_digest(given, expected):
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    return HttpResponse("verification failed", status=403, content_type="text/plain")


def load_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedPayload("body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        raise MalformedPayload("expected an object with an entry list")
    return data


class MessengerConnector(Connector):
    kind = Channel.Kind.MESSENGER
    default_api_base = GRAPH_API
    webhook_object: ClassVar[str] = "page"
    fields = (
        CredentialField("page_id", "Page id", help_text="The Facebook page's numeric id"),
        CredentialField("access_token", "Page access token", secret=True),
        CredentialField("app_secret", "App secret", secret=True, help_text="App settings → Basic → App secret"),
        CredentialField("api_base", "Graph API base URL", required=False, initial=GRAPH_API),
    )
    generated = {"verify_token": False}

    def handshake(self, channel: Channel, request: HttpRequest) -> HttpResponse | None:
        return meta_handshake(channel, request)

    def verify(self, channel: Channel, request: WebhookRequest) -> None:
        meta_verify_signature(channel, request)

    def parse(self, channel: Channel, request: WebhookRequest) -> list[NormalisedEvent]:
        data = load_object(request.body)
        if data.get("object") != self.webhook_object:
            return []
        events: list[NormalisedEvent] = []
        for entry in data["entry"]:
            for item in entry.get("messaging") or [] if isinstance(entry, dict) else []:
                event = self._parse_item(item)
                if event is not None:
                    events.append(event)
        return events

    def _parse_item(self, item: Any) -> NormalisedEvent | None:
        if not isinstance(item, dict):
            raise MalformedPayload("messaging item is not an object")
        sender = str((item.get("sender") or {}).get("id", ""))
        recipient = str((item.get("recipient") or {}).get("id", ""))
        at = from_timestamp(item.get("timestamp"), millis=True)
        if isinstance(item.get("message"), dict):
            message = item["message"]
            if not message.get("mid"):
                raise MalformedPayload("message without mid")
            echo = bool(message.get("is_echo"))
            attachments = tuple(
                Attachment(type=str(a.get("type", "file")), url=str((a.get("payload") or {}).get("url", "")))
                for a in message.get("attachments") or []
                if isinstance(a, dict)
            )
            return InboundMessage(
                external_user_id=recipient if echo else sender,
                provider_message_id=str(message["mid"]),
                text=str(message.get("text", "")),
                attachments=attachments,
                sent_at=at,
                is_echo=echo,
            )
        if isinstance(item.get("delivery"), dict):
            delivery = item["delivery"]
            return StatusUpdate(
                status="delivered",
                provider_message_ids=tuple(str(m) for m in delivery.get("mids") or []),
                external_user_id=sender,
                watermark=from_timestamp(delivery.get("watermark"), millis=True),
                at=at,
            )
        if isinstance(item.get("read"), dict):
            read = item["read"]
            return StatusUpdate(
                status="read",
                provider_message_ids=(str(read["mid"]),) if read.get("mid") else (),
                external_user_id=sender,
                watermark=from_timestamp(read.get("watermark"), millis=True),
                at=at,
            )
        return None  # postbacks, reactions, referrals, optins: stored and ignored

    def send(self, channel: Channel, message: OutgoingMessage) -> SendResult:
        token = channel.secret("access_token")
        if not token:
            raise PermanentSendError("the channel has no access token")
        if message.text:
            body: dict[str, Any] = {"text": message.text}
        elif message.attachments:
            first = message.attachments[0]
            body = {"attachment": {"type": first.get("type", "file"), "payload": {"url": first.get("url", "")}}}
        else:
            raise PermanentSendError("nothing to send")
        data = request_json(
            f"{self.api_base(channel)}/{channel.setting('page_id', 'me')}/messages",
            json_body={"recipient": {"id": message.recipient}, "messaging_type": "RESPONSE", "message": body},
            headers={"Authorization": f"Bearer {token}"},
            error_text=meta_error_text,
            transient_if=meta_transient,
        )
        if not isinstance(data, dict) or not data.get("message_id"):
            raise PermanentSendError(f"unexpected answer: {data!r}"[:500])
        return SendResult(provider_message_id=str(data["message_id"]))

    def setup_steps(self, channel: Channel, webhook_url: str) -> list[str]:
        product = "Messenger" if self.kind == Channel.Kind.MESSENGER else "Instagram"
        return [
            f"In developers.facebook.com open your app, add the {product} product and connect the page"
            + (" linked to the Instagram professional account." if product == "Instagram" else "."),
            "Generate a page access token (Messenger settings → Access tokens) and paste it above with the "
            "page id and the app secret (App settings → Basic); save.",
            f"Under Webhooks choose “{self.webhook_object}”, subscribe with callback URL {webhook_url} and "
            f"verify token {channel.setting('verify_token')}.",
            "Subscribe to the fields messages, message_echoes, message_deliveries and message_reads.",
        ]


class InstagramConnector(MessengerConnector):
    kind = Channel.Kind.INSTAGRAM
    webhook_object = "instagram"
    fields = (
        CredentialField("page_id", "Instagram account id", help_text="The professional account's id (IGSID)"),
        CredentialField("access_token", "Page access token", secret=True),
        CredentialField("app_secret", "App secret", secret=True),
        CredentialField("api_base", "Graph API base URL", required=False, initial=GRAPH_API),
    )
