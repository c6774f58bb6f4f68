"""Facebook Messenger and Instagram messaging through Meta's webhooks and the Graph API.

Inbound: the GET handshake (``hub.mode=subscribe``, ``hub.verify_token``, answer ``hub.challenge``), then
POSTs signed with ``X-Hub-Signature-256: sha256=<HMAC-SHA256(app secret, raw body)>``. One POST may batch
several entries; it is stored once (id = hash of the body) and each message is de-duplicated by its
``mid``. ``messaging[]`` items carry ``message`` (with ``is_echo`` for messages the page sent),
``delivery`` (mids and/or a watermark) or ``read`` (a watermark; Instagram gives a ``mid``).
Outbound: ``POST <api_base>/<page id>/messages`` with the page access token as a Bearer token.

Public comments (listening): ``entry[].changes[]`` carry page feed changes (``field: "feed"``, ``value.item:
"comment"``, ``verb: "add"``, ``comment_id``, ``message``, ``from``, ``post_id``, ``created_time``) and, for
Instagram, ``field: "comments"`` (``id``, ``text``, ``from {id, username}``, ``media``) and ``"mentions"``
(``comment_id``, ``media_id`` only: the text is fetched with ``comment_fetch``). Each becomes a
``PublicComment``; the page's own comments (our public replies) are left out. Answers: a public reply
(``POST /<comment id>/comments``; Instagram ``/<comment id>/replies``) or a private reply (``POST /<page
id>/messages`` with ``recipient: {"comment_id": …}``), chosen by ``OutgoingMessage.comment_reply``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.utils.dateparse import parse_datetime

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
    PublicComment,
    SendResult,
    StatusUpdate,
    WebhookRequest,
    body_digest,
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

    def parse(self, channel: Channel, request: WebhookRequest) -> Delivery:
        data = load_object(request.body)  # batches have no id of their own: the body's hash is theirs
        return Delivery(event_id=body_digest(request.body), events=self._events(channel, data))

    def _events(self, channel: Channel, data: dict[str, Any]) -> list[NormalisedEvent]:
        if data.get("object") != self.webhook_object:
            return []
        events: list[NormalisedEvent] = []
        for entry in data["entry"]:
            if not isinstance(entry, dict):
                continue
            for item in entry.get("messaging") or []:
                event = self._parse_item(item)
                if event is not None:
                    events.append(event)
            for change in entry.get("changes") or []:
                if isinstance(change, dict) and isinstance(change.get("value"), dict):
                    comment = self._parse_change(channel, entry, str(change.get("field", "")), change["value"])
                    if comment is not None:
                        events.append(comment)
        return events

    def _parse_change(
        self, channel: Channel, entry: dict[str, Any], field: str, value: dict[str, Any]
    ) -> PublicComment | None:
        """A new comment on the page's feed; edits, removals, likes and posts are left out."""
        if field != "feed" or value.get("item") != "comment" or value.get("verb") != "add":
            return None
        if not value.get("comment_id"):
            raise MalformedPayload("feed comment without comment_id")
        sender: dict[str, Any] = value["from"] if isinstance(value.get("from"), dict) else {}
        author_id = str(sender.get("id", ""))
        if author_id and author_id == channel.setting("page_id"):
            return None  # the page itself commented (one of our public replies): not a mention
        comment_id, post_id = str(value["comment_id"]), str(value.get("post_id") or "")
        parent_id = str(value.get("parent_id") or "")
        return PublicComment(
            comment_id=comment_id,
            text=str(value.get("message") or ""),
            author_id=author_id,
            author_name=str(sender.get("name", "")),
            post_id=post_id,
            parent_id="" if parent_id == post_id else parent_id,
            permalink=f"https://www.facebook.com/{comment_id}",
            created_at=from_timestamp(value.get("created_time")),
        )

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
        if message.reply_to_comment:
            return self._reply_to_comment(channel, message, token)
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

    def _reply_to_comment(self, channel: Channel, message: OutgoingMessage, token: str) -> SendResult:
        if not message.text.strip():
            raise PermanentSendError("nothing to send")
        comment_id = message.reply_to_comment
        if message.comment_reply == "private":
            url = f"{self.api_base(channel)}/{channel.setting('page_id', 'me')}/messages"
            body: dict[str, Any] = {"recipient": {"comment_id": comment_id}, "message": {"text": message.text}}
            answer_key = "message_id"
        elif message.comment_reply == "public":
            url = f"{self.api_base(channel)}/{comment_id}/{self.public_reply_edge}"
            body, answer_key = {"message": message.text}, "id"
        else:
            raise PermanentSendError(f"unknown comment reply {message.comment_reply!r}")
        data = request_json(
            url,
            json_body=body,
            headers={"Authorization": f"Bearer {token}"},
            error_text=meta_error_text,
            transient_if=meta_transient,
        )
        if not isinstance(data, dict) or not data.get(answer_key):
            raise PermanentSendError(f"unexpected answer: {data!r}"[:500])
        return SendResult(provider_message_id=str(data[answer_key]))

    public_reply_edge: ClassVar[str] = "comments"
    comment_replies = frozenset({"public", "private"})

    def setup_steps(self, channel: Channel, webhook_url: str) -> list[str]:
        product = "Messenger" if self.kind == Channel.Kind.MESSENGER else "Instagram"
        return [
            f"In developers.facebook.com open your app, add the {product} product and connect the page"
            + (" linked to the Instagram professional account." if product == "Instagram" else "."),
            "Generate a page access token (Messenger settings → Access tokens) and paste it above with the "
            "page id and the app secret (App settings → Basic); save.",
            f"Under Webhooks choose “{self.webhook_object}”, subscribe with callback URL {webhook_url} and "
            f"verify token {channel.setting('verify_token')}.",
            "Subscribe to the fields messages, message_echoes, message_deliveries and message_reads, and "
            + ("feed" if product == "Messenger" else "comments and mentions")
            + " to receive public comments as listening mentions.",
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

    public_reply_edge = "replies"

    def _parse_change(
        self, channel: Channel, entry: dict[str, Any], field: str, value: dict[str, Any]
    ) -> PublicComment | None:
        """A comment on the account's media (``comments``) or an @mention of it in a comment (``mentions``)."""
        at = from_timestamp(entry.get("time"))
        if field == "mentions":
            if not value.get("comment_id"):
                return None  # a caption mention (media only): not a comment
            return PublicComment(
                comment_id=str(value["comment_id"]),
                post_id=str(value.get("media_id") or ""),
                created_at=at,
                kind="mention",
            )
        if field != "comments":
            return None
        if not value.get("id"):
            raise MalformedPayload("comment without id")
        sender: dict[str, Any] = value["from"] if isinstance(value.get("from"), dict) else {}
        author_id = str(sender.get("id", ""))
        if author_id and author_id == channel.setting("page_id"):
            return None  # the account's own comment (one of our public replies)
        media: dict[str, Any] = value["media"] if isinstance(value.get("media"), dict) else {}
        username = str(sender.get("username", ""))
        return PublicComment(
            comment_id=str(value["id"]),
            text=str(value.get("text") or ""),
            author_id=author_id,
            author_handle=f"@{username}" if username else "",
            post_id=str(media.get("id", "")),
            parent_id=str(value.get("parent_id") or ""),
            created_at=at,
        )

    def comment_fetch(self, channel: Channel, comment: PublicComment) -> PublicComment:
        """The text and author of a comment the account was @mentioned in (the webhook names it only)."""
        if comment.text or comment.kind != "mention":
            return comment
        token = channel.secret("access_token")
        if not token:
            raise PermanentSendError("the channel has no access token")
        fields = f"mentioned_comment.comment_id({comment.comment_id}){{text,username,timestamp}}"
        data = request_json(
            f"{self.api_base(channel)}/{channel.setting('page_id', 'me')}?{urlencode({'fields': fields})}",
            method="GET",
            headers={"Authorization": f"Bearer {token}"},
            error_text=meta_error_text,
            transient_if=meta_transient,
        )
        found = data.get("mentioned_comment") if isinstance(data, dict) else None
        if not isinstance(found, dict):
            raise PermanentSendError(f"unexpected answer: {data!r}"[:500])
        username = str(found.get("username") or "")
        return replace(
            comment,
            text=str(found.get("text") or ""),
            author_handle=f"@{username}" if username else "",
            created_at=_parsed(found.get("timestamp")) or comment.created_at,
        )


def _parsed(value: Any) -> dt.datetime | None:
    try:
        return parse_datetime(str(value or ""))
    except ValueError:
        return None
