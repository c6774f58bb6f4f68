"""Partner API channel: a partner system posts messages to us and receives replies, both signed.

Signature (both directions): ``X-SCRM-Timestamp: <unix seconds>`` and
``X-SCRM-Signature: sha256=<hex HMAC-SHA256(shared secret, "<timestamp>." + raw body)>``. Requests more
than five minutes away from our clock are refused, so a captured request cannot be replayed later.

Inbound JSON: ``{"id": "<event id>", "type": "message", "user": {"id", "name", "handle", "avatar_url",
"email", "phone"}, "message": {"id", "text", "attachments": [{"type", "url", "mime_type", "name"}]}}`` or
``{"id", "type": "status", "status": {"message_id", "status": "delivered"|"read"|"failed", "error"}}``.
Outbound: POST to the partner's URL: ``{"type": "message", "id": "<our id>", "recipient": {"id"},
"message": {"text", "attachments"}}``; the partner answers 2xx, optionally ``{"id": "<their id>"}``.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from crm.webhooks.delivery import sign  # one signing scheme for everything partners verify
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
    SignatureInvalid,
    SignatureMissing,
    StatusUpdate,
    WebhookRequest,
    require_secret,
)
from social.connectors.http import request_json
from social.models import Channel

SIGNATURE_HEADER = "X-SCRM-Signature"
TIMESTAMP_HEADER = "X-SCRM-Timestamp"
TOLERANCE_SECONDS = 300
_STATUSES = {"delivered", "read", "failed", "sent"}


def signature_check(*, secret: Callable[[], str], body: bytes, given: str, stamp: str) -> None:
    """Check ``X-SCRM-Signature`` / ``X-SCRM-Timestamp`` the way partners sign (``crm.webhooks.delivery.sign``):
    ``SignatureMissing`` without them, ``SignatureInvalid`` for a stale time or a wrong signature. ``secret``
    is asked for only once both headers are there (it may raise, e.g. for unreadable credentials)."""
    if not given or not stamp:
        raise SignatureMissing("signature or timestamp header missing")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureInvalid("timestamp is not a number") from None
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        raise SignatureInvalid("timestamp outside the tolerance")
    key = secret()
    if not key or not hmac.compare_digest(given, sign(key, body, timestamp)):
        raise SignatureInvalid("signature mismatch")


class ApiConnector(Connector):
    kind = Channel.Kind.API
    fields = (
        CredentialField("outbound_url", "Partner URL", help_text="Where replies are POSTed, https://…"),
        CredentialField("signing_secret", "Shared signing secret", secret=True, help_text="At least 32 characters"),
    )

    def verify(self, channel: Channel, request: WebhookRequest) -> None:
        signature_check(
            secret=lambda: require_secret(channel, "signing_secret"),
            body=request.body,
            given=request.header(SIGNATURE_HEADER),
            stamp=request.header(TIMESTAMP_HEADER),
        )

    def parse(self, channel: Channel, request: WebhookRequest) -> Delivery:
        data = _load(request.body)
        if not isinstance(data.get("id"), str) or not data["id"]:
            raise MalformedPayload("id missing")
        return Delivery(event_id=str(data["id"])[:255], events=self._events(data))

    def _events(self, data: dict[str, Any]) -> list[NormalisedEvent]:
        if data.get("type") == "message":
            user, message = data.get("user"), data.get("message")
            if (
                not isinstance(user, dict)
                or not isinstance(message, dict)
                or not user.get("id")
                or not message.get("id")
            ):
                raise MalformedPayload("message events need user.id and message.id")
            attachments = tuple(
                Attachment(
                    type=str(a.get("type", "file")),
                    url=str(a.get("url", "")),
                    mime_type=str(a.get("mime_type", "")),
                    name=str(a.get("name", "")),
                )
                for a in message.get("attachments") or []
                if isinstance(a, dict)
            )
            name, handle, avatar_url, email, phone = (
                str(user.get(k, "")) for k in ("name", "handle", "avatar_url", "email", "phone")
            )
            profile = Profile(name=name, handle=handle, avatar_url=avatar_url, email=email, phone=phone)
            return [
                InboundMessage(
                    external_user_id=str(user["id"]),
                    provider_message_id=str(message["id"]),
                    text=str(message.get("text", "")),
                    attachments=attachments,
                    profile=profile,
                )
            ]
        if data.get("type") == "status":
            status = data.get("status")
            if not isinstance(status, dict) or not status.get("message_id"):
                raise MalformedPayload("status events need status.message_id")
            if status.get("status") not in _STATUSES:
                return []
            return [
                StatusUpdate(
                    status=str(status["status"]),
                    provider_message_ids=(str(status["message_id"]),),
                    error=str(status.get("error", "")),
                )
            ]
        return []

    def send(self, channel: Channel, message: OutgoingMessage) -> SendResult:
        url = channel.setting("outbound_url")
        if not url:
            raise PermanentSendError("the channel has no partner URL")
        body = json.dumps(
            {
                "type": "message",
                "id": message.reference,
                "recipient": {"id": message.recipient},
                "message": {"text": message.text, "attachments": list(message.attachments)},
            }
        ).encode()
        timestamp = int(time.time())
        data = request_json(
            url,
            raw_body=body,
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(require_secret(channel, "signing_secret"), body, timestamp),
            },
        )
        their_id = data.get("id") if isinstance(data, dict) else None
        return SendResult(provider_message_id=str(their_id or message.reference))

    def setup_steps(self, channel: Channel, webhook_url: str) -> list[str]:
        return [
            "Agree a random shared secret (32+ characters) with the partner and enter it above with the URL "
            "where they receive replies; save.",
            f"The partner POSTs JSON events to {webhook_url} with the headers {TIMESTAMP_HEADER} (unix "
            f'seconds) and {SIGNATURE_HEADER}: "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body).',
            "Replies are POSTed to the partner URL signed the same way; the partner answers 2xx, optionally "
            'with {"id": "<their message id>"}, and reports delivery with {"type": "status", …} events.',
        ]


def _load(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedPayload("body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedPayload("body is not a JSON object")
    return data
