"""Telegram bot: webhook set with ``secret_token``, checked in ``X-Telegram-Bot-Api-Secret-Token``.

Ids: the chat id is the identity (replies go to it); Telegram numbers messages per chat, so the stored
provider id is ``<chat id>:<message id>``; ``update_id`` de-duplicates redelivered updates. Telegram has
no delivery or read receipts for bots, so outbound messages stop at ``sent``. Files arrive as ``file_id``
(kept as ``tg-file:<id>``; downloading needs ``getFile`` and is not done here).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

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
    WebhookRequest,
    from_timestamp,
)
from social.connectors.http import request_json
from social.models import Channel

_FILE_KINDS = {"photo": "image", "document": "file", "audio": "audio", "voice": "audio", "video": "video"}


def _telegram_error(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("description") or data)
    return str(data or "")


class TelegramConnector(Connector):
    kind = Channel.Kind.TELEGRAM
    default_api_base = "https://api.telegram.org"
    fields = (
        CredentialField("bot_token", "Bot token", secret=True, help_text="From @BotFather, e.g. 123456:ABC-…"),
        CredentialField("api_base", "Bot API base URL", required=False, initial="https://api.telegram.org"),
    )
    generated = {"webhook_secret": True}

    def verify(self, channel: Channel, request: WebhookRequest) -> None:
        given = request.header("X-Telegram-Bot-Api-Secret-Token")
        if not given:
            raise SignatureMissing("no X-Telegram-Bot-Api-Secret-Token")
        expected = channel.secret("webhook_secret")
        if not expected or not hmac.compare_digest(given, expected):
            raise SignatureInvalid("secret token mismatch")

    def parse(self, channel: Channel, request: WebhookRequest) -> Delivery:
        update = _load(request.body)
        if not isinstance(update.get("update_id"), int):
            raise MalformedPayload("update_id missing")
        return Delivery(event_id=f"update:{update['update_id']}", events=self._events(update))

    def _events(self, update: dict[str, Any]) -> list[NormalisedEvent]:
        message = update.get("message")
        if not isinstance(message, dict):
            return []  # edited_message, callback_query, my_chat_member, …: stored and ignored
        chat = message.get("chat") or {}
        sender = message.get("from") or {}
        if "id" not in chat or "message_id" not in message:
            raise MalformedPayload("message without chat.id or message_id")
        name = " ".join(p for p in (sender.get("first_name", ""), sender.get("last_name", "")) if p)
        phone = ""
        shared = message.get("contact")
        if isinstance(shared, dict) and shared.get("user_id") == sender.get("id"):
            phone = str(shared.get("phone_number", ""))  # the sender shared their own number
        attachments = []
        for key, kind in _FILE_KINDS.items():
            item = message.get(key)
            if isinstance(item, list) and item:  # photos come in several sizes: keep the largest
                item = item[-1]
            if isinstance(item, dict) and item.get("file_id"):
                attachments.append(
                    Attachment(
                        type=kind,
                        url=f"tg-file:{item['file_id']}",
                        mime_type=str(item.get("mime_type", "")),
                        name=str(item.get("file_name", "")),
                        size=item.get("file_size"),
                    )
                )
        text = str(message.get("text") or message.get("caption") or "")
        if not text and not attachments and not phone:
            return []  # stickers, polls, service messages
        return [
            InboundMessage(
                external_user_id=str(chat["id"]),
                provider_message_id=f"{chat['id']}:{message['message_id']}",
                text=text,
                attachments=tuple(attachments),
                sent_at=from_timestamp(message.get("date")),
                profile=Profile(name=name, handle=str(sender.get("username", "")), phone=phone),
            )
        ]

    def send(self, channel: Channel, message: OutgoingMessage) -> SendResult:
        if not message.text:
            raise PermanentSendError("Telegram messages need text")
        data = self._call(channel, "sendMessage", {"chat_id": message.recipient, "text": message.text})
        result = data.get("result") or {}
        return SendResult(provider_message_id=f"{message.recipient}:{result.get('message_id')}")

    def register_webhook(self, channel: Channel, url: str) -> None:
        """Point the bot at our webhook URL with the channel's secret token (setWebhook)."""
        self._call(
            channel,
            "setWebhook",
            {
                "url": url,
                "secret_token": channel.secret("webhook_secret"),
                "allowed_updates": ["message"],
            },
        )

    def setup_steps(self, channel: Channel, webhook_url: str) -> list[str]:
        return [
            "Create a bot with @BotFather (/newbot) and paste its token into “Bot token” above; save.",
            "Select this channel in the channel list and run the action “Register the webhook with the provider”: "
            f"it calls setWebhook with url={webhook_url} and this channel's secret token, which Telegram then "
            "sends in X-Telegram-Bot-Api-Secret-Token with every update.",
            "Send the bot a message from Telegram: it appears as a new conversation.",
        ]

    def _call(self, channel: Channel, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        token = channel.secret("bot_token")
        if not token:
            raise PermanentSendError("the channel has no bot token")
        data = request_json(
            f"{self.api_base(channel)}/bot{token}/{method}", json_body=payload, error_text=_telegram_error
        )
        if not isinstance(data, dict) or not data.get("ok"):
            raise PermanentSendError(_telegram_error(data))
        return data


def _load(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedPayload("body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedPayload("body is not a JSON object")
    return data
