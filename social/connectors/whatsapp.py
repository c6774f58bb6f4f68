"""WhatsApp Cloud API.

Inbound: the same Meta handshake and ``X-Hub-Signature-256`` signature; ``entry[].changes[].value`` holds
``contacts[]`` (profile name and ``wa_id``), ``messages[]`` and ``statuses[]``. The ``wa_id`` (a phone
number without ``+``) is the identity and gives the contact's phone. Media arrive as media ids (kept as
``wa-media:<id>``; downloading needs a Graph call and is not done here).

Outbound: ``POST <api_base>/<phone number id>/messages`` with a Bearer token. WhatsApp accepts a free-form
message only within 24 hours of the customer's last message; after that only an approved template
(``OutgoingMessage.template``). The service refuses free-form replies outside the window before calling.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from social.connectors.base import (
    Attachment,
    Connector,
    CredentialField,
    Delivery,
    InboundMessage,
    MalformedPayload,
    NormalisedEvent,
    OutgoingMessage,
    PermanentSendError,
    Profile,
    SendResult,
    StatusUpdate,
    WebhookRequest,
    body_digest,
    from_timestamp,
)
from social.connectors.http import request_json
from social.connectors.meta import (
    GRAPH_API,
    load_object,
    meta_error_text,
    meta_handshake,
    meta_transient,
    meta_verify_signature,
)
from social.models import Channel

_MEDIA = {"image", "document", "audio", "video", "sticker"}
_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


class WhatsAppConnector(Connector):
    kind = Channel.Kind.WHATSAPP
    default_api_base = GRAPH_API
    fields = (
        CredentialField("phone_number_id", "Phone number id", help_text="WhatsApp Manager → Phone numbers"),
        CredentialField("access_token", "Access token", secret=True, help_text="A system user's permanent token"),
        CredentialField("app_secret", "App secret", secret=True),
        CredentialField("api_base", "Graph API base URL", required=False, initial=GRAPH_API),
    )
    generated = {"verify_token": False}

    def handshake(self, channel: Channel, request: HttpRequest) -> HttpResponse | None:
        return meta_handshake(channel, request)

    def verify(self, channel: Channel, request: WebhookRequest) -> None:
        meta_verify_signature(channel, request)

    def parse(self, channel: Channel, request: WebhookRequest) -> Delivery:
        data = load_object(request.body)  # batches have no id of their own: the body's hash is theirs
        return Delivery(event_id=body_digest(request.body), events=self._events(data))

    def _events(self, data: dict[str, Any]) -> list[NormalisedEvent]:
        if data.get("object") != "whatsapp_business_account":
            return []
        events: list[NormalisedEvent] = []
        for entry in data["entry"]:
            for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
                if not isinstance(change, dict) or change.get("field") != "messages":
                    continue
                value = change.get("value")
                if not isinstance(value, dict):
                    raise MalformedPayload("change without a value object")
                events.extend(self._messages(value))
                events.extend(self._statuses(value))
        return events

    def _messages(self, value: dict[str, Any]) -> list[NormalisedEvent]:
        names = {
            str(c.get("wa_id")): str((c.get("profile") or {}).get("name", ""))
            for c in value.get("contacts") or []
            if isinstance(c, dict)
        }
        events: list[NormalisedEvent] = []
        for message in value.get("messages") or []:
            if not isinstance(message, dict) or not message.get("id") or not message.get("from"):
                raise MalformedPayload("message without id or from")
            kind = message.get("type")
            text, attachments = "", []
            if kind == "text":
                text = str((message.get("text") or {}).get("body", ""))
            elif kind in _MEDIA:
                media = message.get(kind) or {}
                text = str(media.get("caption", ""))
                attachments.append(
                    Attachment(
                        type=str(kind),
                        url=f"wa-media:{media.get('id', '')}",
                        mime_type=str(media.get("mime_type", "")),
                        name=str(media.get("filename", "")),
                    )
                )
            elif kind == "button":
                text = str((message.get("button") or {}).get("text", ""))
            else:
                continue  # reactions, locations, unsupported, system: ignored
            wa_id = str(message["from"])
            events.append(
                InboundMessage(
                    external_user_id=wa_id,
                    provider_message_id=str(message["id"]),
                    text=text,
                    attachments=tuple(attachments),
                    sent_at=from_timestamp(message.get("timestamp")),
                    profile=Profile(name=names.get(wa_id, ""), phone=f"+{wa_id}"),
                )
            )
        return events

    def _statuses(self, value: dict[str, Any]) -> list[NormalisedEvent]:
        events: list[NormalisedEvent] = []
        for status in value.get("statuses") or []:
            if not isinstance(status, dict) or not status.get("id"):
                raise MalformedPayload("status without id")
            mapped = _STATUSES.get(str(status.get("status")))
            if mapped is None:
                continue
            errors = status.get("errors") or []
            error = ""
            if errors and isinstance(errors[0], dict):
                first = errors[0]
                details = (first.get("error_data") or {}).get("details", "")
                error = f"{first.get('title') or first.get('message', '')} (code {first.get('code')}) {details}".strip()
            events.append(
                StatusUpdate(
                    status=mapped,
                    provider_message_ids=(str(status["id"]),),
                    external_user_id=str(status.get("recipient_id", "")),
                    at=from_timestamp(status.get("timestamp")),
                    error=error,
                )
            )
        return events

    def send(self, channel: Channel, message: OutgoingMessage) -> SendResult:
        token = channel.secret("access_token")
        if not token:
            raise PermanentSendError("the channel has no access token")
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.recipient,
        }
        if message.template:
            body["type"] = "template"
            body["template"] = {
                "name": message.template["name"],
                "language": {"code": message.template.get("language", "en_US")},
                "components": message.template.get("components", []),
            }
        elif message.text:
            body["type"] = "text"
            body["text"] = {"preview_url": False, "body": message.text}
        else:
            raise PermanentSendError("nothing to send")
        data = request_json(
            f"{self.api_base(channel)}/{channel.setting('phone_number_id')}/messages",
            json_body=body,
            headers={"Authorization": f"Bearer {token}"},
            error_text=meta_error_text,
            transient_if=meta_transient,
        )
        try:
            return SendResult(provider_message_id=str(data["messages"][0]["id"]))
        except (KeyError, IndexError, TypeError):
            raise PermanentSendError(f"unexpected answer: {data!r}"[:500]) from None

    def setup_steps(self, channel: Channel, webhook_url: str) -> list[str]:
        return [
            "In developers.facebook.com add the WhatsApp product to your app and register the business phone number.",
            "Paste the phone number id, a system user's permanent access token (whatsapp_business_messaging) "
            "and the app secret above; save.",
            f"Under WhatsApp → Configuration set the callback URL {webhook_url} and verify token "
            f"{channel.setting('verify_token')}, then subscribe to the “messages” field.",
            "Free-form replies are accepted only within 24 hours of the customer's last message; after that "
            "WhatsApp requires an approved message template (create templates in WhatsApp Manager).",
        ]
