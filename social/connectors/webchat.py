"""Web chat: a widget on the business's own site (``static/webchat/widget.js``) talks to ``/chat/<key>/…``.

There is no provider. A visitor is a random id the browser keeps (``localStorage``) in a token signed with
``django.core.signing`` (``SECRET_KEY``, salted with the channel's webhook key, so a token is good for one
channel only and rotating ``SECRET_KEY`` starts every visitor afresh). Only requests whose ``Origin`` is in the
channel's allowed origins are answered.

The widget endpoints (``social.webchat_views``) verify the token and the origin, then store a normalised body
through ``inbound_event_store``, the same durable path as every webhook:
``{"visitor": "<id>", "message": {"id": "<client id>", "text"}, "profile": {"name", "email"}, "sent_at"}``.
The generic webhook URL refuses every request for a web chat channel: only the widget endpoints may vouch
for a visitor id.

Every message a visitor may see carries ``<visitor id>:`` in its provider message id: inbound ones from
``parse``, staff replies from ``send`` (which delivers nothing: the widget polls for sent replies). Reads are
scoped by that prefix, so a merged contact's other threads never leak into a visitor's widget.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing

from social.connectors.base import (
    Connector,
    CredentialField,
    Delivery,
    InboundMessage,
    MalformedPayload,
    OutgoingMessage,
    Profile,
    SendResult,
    SignatureInvalid,
    SignatureMissing,
    WebhookRequest,
    from_timestamp,
)
from social.models import Channel

SIGNING_SALT = "scrm.webchat.visitor:"
VISITOR_PREFIX = "wv_"
_VISITOR_ID = re.compile(r"^wv_[A-Za-z0-9_-]{16,64}$")
_ORIGIN_SPLIT = re.compile(r"[\s,]+")


def new_visitor_id() -> str:
    return VISITOR_PREFIX + secrets.token_urlsafe(18)


def visitor_token(channel: Channel, visitor_id: str) -> str:
    return signing.Signer(salt=SIGNING_SALT + channel.webhook_key).sign(visitor_id)


def visitor_from_token(channel: Channel, token: str) -> str:
    """The visitor id a token vouches for; ``SignatureMissing`` / ``SignatureInvalid`` otherwise."""
    if not token:
        raise SignatureMissing("no visitor token")
    try:
        visitor_id = signing.Signer(salt=SIGNING_SALT + channel.webhook_key).unsign(token)
    except signing.BadSignature:
        raise SignatureInvalid("visitor token does not match") from None
    if not _VISITOR_ID.match(visitor_id):
        raise SignatureInvalid("visitor token holds no visitor id")
    return visitor_id


def normalise_origin(value: str) -> str:
    """``scheme://host[:port]`` in lower case, or "" for anything that is not an http(s) origin."""
    parts = urlsplit(value.strip().rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query or parts.fragment:
        return ""
    if "@" in parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(channel: Channel) -> frozenset[str]:
    raw = channel.setting("allowed_origins")
    return frozenset(filter(None, (normalise_origin(item) for item in _ORIGIN_SPLIT.split(raw))))


def origin_allowed(channel: Channel, origin: str) -> bool:
    normalised = normalise_origin(origin)
    return bool(normalised) and normalised in allowed_origins(channel)


def message_body(*, visitor_id: str, message_id: str, text: str, name: str, email: str, sent_at: float) -> bytes:
    """The normalised body the widget endpoint stores (never the token itself)."""
    payload = {
        "visitor": visitor_id,
        "message": {"id": message_id, "text": text},
        "profile": {"name": name, "email": email},
        "sent_at": sent_at,
    }
    return json.dumps(payload, ensure_ascii=False).encode()


def visitor_message_id(visitor_id: str, message_id: str) -> str:
    return f"{visitor_id}:{message_id}"


class WebchatConnector(Connector):
    kind = Channel.Kind.WEBCHAT
    receives_webhooks = False
    fields = (
        CredentialField(
            "allowed_origins",
            "Allowed origins",
            help_text="The sites that embed the widget, e.g. https://shop.example.com https://www.example.com "
            "(scheme, host and port; comma or space separated). Requests from anywhere else are refused.",
        ),
        CredentialField("title", "Widget title", required=False, help_text="Shown at the top of the chat panel"),
        CredentialField(
            "welcome",
            "Welcome text",
            required=False,
            help_text="Shown to the visitor before the first message, e.g. “Hi! How can we help?”",
        ),
    )

    def verify(self, channel: Channel, request: WebhookRequest) -> None:
        # The widget endpoints check token and origin themselves; nothing else may vouch for a visitor id.
        raise SignatureMissing("web chat messages are accepted only from the widget endpoints")

    def parse(self, channel: Channel, request: WebhookRequest) -> Delivery:
        visitor_id, message_id, data = _read(request.body)
        profile = data.get("profile")
        if not isinstance(profile, dict):
            profile = {}
        provider_message_id = visitor_message_id(visitor_id, message_id)
        message = InboundMessage(
            external_user_id=visitor_id,
            provider_message_id=provider_message_id,
            text=str(data["message"].get("text", "")),
            sent_at=from_timestamp(data.get("sent_at")),
            profile=Profile(
                name=str(profile.get("name", "")),
                email=str(profile.get("email", "")),
                contact_details_verified=False,  # typed into a form by whoever is at the keyboard
            ),
        )
        return Delivery(event_id=provider_message_id, events=[message])

    def send(self, channel: Channel, message: OutgoingMessage) -> SendResult:
        # Nothing to deliver: the visitor's widget polls for sent replies, found by this id's prefix.
        return SendResult(provider_message_id=visitor_message_id(message.recipient, message.reference))

    def setup_steps(self, channel: Channel, webhook_url: str) -> list[str]:
        base = webhook_url.split("/webhooks/", 1)[0]
        script = f"{base}{settings.STATIC_URL}webchat/widget.js"
        return [
            "Enter the origins of the sites that embed the chat (e.g. https://shop.example.com) under "
            "Allowed origins and save; the widget refuses to work anywhere else.",
            "Put this one tag into every page that should show the chat, just before </body>: "
            f'<script src="{script}" data-channel="{channel.webhook_key}" async></script>',
            "Visitors need no account: the browser keeps a visitor token. Their messages open conversations here; "
            "replies sent from the conversation page appear in the visitor's chat within a second or two.",
        ]


def _read(body: bytes) -> tuple[str, str, dict[str, Any]]:
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedPayload("body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise MalformedPayload("body needs visitor and message")
    visitor_id, message_id = data.get("visitor"), data["message"].get("id")
    if not isinstance(visitor_id, str) or not visitor_id or not isinstance(message_id, str) or not message_id:
        raise MalformedPayload("body needs visitor and message.id")
    return visitor_id, message_id, data
