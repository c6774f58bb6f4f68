"""The one shape every channel connector has, and the normalised events they produce.

A connector is stateless; everything channel-specific comes from the ``Channel`` row it is given.

1. ``handshake``: answer a provider's subscription check (Meta's GET), or ``None`` when there is none.
2. ``verify``: check the signature of a webhook request on its raw body; raise ``SignatureMissing`` or
   ``SignatureInvalid``.
3. ``parse``: read a request's body once into a ``Delivery``: the provider's id of the delivery (for
   de-duplication of the stored raw event; ``body_digest`` where the provider gives none) and its
   ``InboundMessage`` / ``StatusUpdate`` / ``PublicComment`` events (anything else is left out, so the event
   ends as ignored); raise ``MalformedPayload`` for a body that cannot be read. The webhook parses before
   it answers (a bad body gets its 400 while the provider can see it), processing parses the stored body.
4. ``ack``: the answer the provider expects (Twilio wants TwiML).
5. ``send``: deliver an ``OutgoingMessage``; raise ``TransientSendError`` (retry later) or
   ``PermanentSendError`` (give up, show the reason).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.http import HttpRequest, HttpResponse, JsonResponse

from social import conf
from social.models import Channel


class SignatureMissing(Exception):
    """The request carries no signature (answered 401)."""


class SignatureInvalid(Exception):
    """The signature does not match (answered 403)."""


class MalformedPayload(Exception):
    """The body cannot be read as the provider's format (answered 400)."""


class SendError(Exception):
    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class TransientSendError(SendError):
    """Timeout, connection error, 429 or 5xx: try again later."""


class PermanentSendError(SendError):
    """The provider refused the message for good (bad recipient, closed window, bad token)."""


@dataclass(frozen=True)
class WebhookRequest:
    """What a connector may look at: the raw body, lower-cased headers, query and the URL as signed."""

    body: bytes
    headers: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    url: str = ""
    method: str = "POST"

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass(frozen=True)
class Profile:
    name: str = ""
    handle: str = ""
    avatar_url: str = ""
    phone: str = ""
    email: str = ""
    # False when anybody could have typed the e-mail or phone (the web chat form): then they never link
    # the sender to an existing customer's record; they are kept on a new contact for staff to merge.
    contact_details_verified: bool = True


@dataclass(frozen=True)
class Attachment:
    type: str
    url: str = ""
    mime_type: str = ""
    name: str = ""
    size: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "url": self.url}
        if self.mime_type:
            data["mime_type"] = self.mime_type
        if self.name:
            data["name"] = self.name
        if self.size is not None:
            data["size"] = self.size
        return data


@dataclass(frozen=True)
class InboundMessage:
    """A message from a person, or an echo of one the account sent (``is_echo``) from another tool."""

    external_user_id: str
    provider_message_id: str
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    sent_at: dt.datetime | None = None
    profile: Profile = Profile()
    is_echo: bool = False
    # Provider-specific extras stored on the message (email: subject, message_id, in_reply_to, references).
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusUpdate:
    """Delivery news about outbound messages: by id, or (Messenger) everything up to a watermark."""

    status: str  # one of Message.Status: sent, delivered, read, failed
    provider_message_ids: tuple[str, ...] = ()
    external_user_id: str = ""
    watermark: dt.datetime | None = None
    at: dt.datetime | None = None
    error: str = ""


@dataclass(frozen=True)
class PublicComment:
    """A public comment (or a mention of the account) on a post the channel owns: a listening mention.

    ``comment_id`` is the provider's id, the one a public or private reply answers. ``text`` may be empty
    when the provider only names the comment (Instagram ``mentions``); ``permalink`` when it gives one.
    """

    comment_id: str
    text: str = ""
    author_id: str = ""
    author_name: str = ""
    author_handle: str = ""
    post_id: str = ""
    parent_id: str = ""
    permalink: str = ""
    created_at: dt.datetime | None = None
    kind: str = "comment"  # "comment" or "mention" (the account was @mentioned)


NormalisedEvent = InboundMessage | StatusUpdate | PublicComment


@dataclass(frozen=True)
class Delivery:
    """One webhook body, read: the provider's id of the delivery and the normalised events it carries."""

    event_id: str
    events: list[NormalisedEvent]


@dataclass(frozen=True)
class OutgoingMessage:
    recipient: str  # the identity's external id
    text: str = ""
    attachments: tuple[dict[str, Any], ...] = ()
    template: dict[str, Any] | None = None  # WhatsApp: {"name", "language", "components"}
    reference: str = ""  # our message id, for partners and logs
    # The metadata of the conversation's latest inbound message, for connectors that answer in a thread
    # (email: subject, message_id, references); empty when there is none.
    thread: dict[str, str] = field(default_factory=dict)
    # Answering a public comment (connectors with ``comment_replies``): the comment's id and "public" (a
    # reply under it) or "private" (a direct message to its author); empty for ordinary messages.
    reply_to_comment: str = ""
    comment_reply: str = ""


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    metadata: dict[str, str] = field(default_factory=dict)  # stored on the sent message (email: threading)


@dataclass(frozen=True)
class CredentialField:
    """A setting staff enter in the channel admin. Secrets are stored encrypted and shown masked."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    help_text: str = ""
    initial: str = ""


class Connector(ABC):
    kind: ClassVar[str]
    # The largest webhook body this provider sends; bigger ones are answered 413 before they are read.
    max_body_bytes: ClassVar[int] = conf.WEBHOOK_MAX_BYTES
    # False for a kind whose messages do not arrive on /webhooks/<key>/ (the web chat has its own endpoints):
    # the channel page then does not offer that URL.
    receives_webhooks: ClassVar[bool] = True
    # True for a provider that signs the URL it called (Twilio): only then does the webhook rebuild it.
    signs_url: ClassVar[bool] = False
    # True for a kind that answers in the customer's thread (e-mail): only then does a send read the metadata
    # of the conversation's latest inbound message (``OutgoingMessage.thread``).
    answers_in_thread: ClassVar[bool] = False
    fields: ClassVar[tuple[CredentialField, ...]] = ()
    # Values generated once for a new channel (verify tokens, webhook secrets): name -> secret?
    generated: ClassVar[dict[str, bool]] = {}
    # Ways ``send`` can answer a ``PublicComment`` ("public", "private"); empty: comments are not answered here.
    comment_replies: ClassVar[frozenset[str]] = frozenset()

    def handshake(self, channel: Channel, request: HttpRequest) -> HttpResponse | None:
        return None

    @abstractmethod
    def verify(self, channel: Channel, request: WebhookRequest) -> None: ...

    @abstractmethod
    def parse(self, channel: Channel, request: WebhookRequest) -> Delivery: ...

    def ack(self) -> HttpResponse:
        return JsonResponse({"ok": True})

    def comment_fetch(self, channel: Channel, comment: PublicComment) -> PublicComment:
        """Complete a ``PublicComment`` the webhook only named (its text); raise a ``SendError`` on failure."""
        return comment

    @abstractmethod
    def send(self, channel: Channel, message: OutgoingMessage) -> SendResult: ...

    @abstractmethod
    def setup_steps(self, channel: Channel, webhook_url: str) -> list[str]: ...

    def api_base(self, channel: Channel) -> str:
        return channel.setting("api_base", self.default_api_base).rstrip("/")

    default_api_base: ClassVar[str] = ""


def body_digest(body: bytes) -> str:
    """The delivery id of a provider that gives none (Meta batches): a redelivered body is the same body."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def hmac_hex(secret: str, payload: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), payload, algorithm).hexdigest()


def require_secret(channel: Channel, name: str) -> str:
    value = channel.secret(name)
    if not value:
        # A channel without its secret cannot tell a forged request from a real one: refuse everything.
        raise SignatureInvalid(f"channel has no {name} configured")
    return value


def check_prefixed_signature(header_value: str, expected_hex: str, prefix: str = "sha256=") -> None:
    if not header_value:
        raise SignatureMissing("no signature header")
    if not header_value.startswith(prefix) or not hmac.compare_digest(header_value[len(prefix) :], expected_hex):
        raise SignatureInvalid("signature mismatch")


def from_timestamp(value: object, *, millis: bool = False) -> dt.datetime | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return dt.datetime.fromtimestamp(number / 1000 if millis else number, tz=dt.UTC)
