"""Twilio Programmable Messaging (SMS).

Inbound: form-encoded POSTs signed with ``X-Twilio-Signature`` = base64(HMAC-SHA1(auth token, URL +
every POST parameter's name and value, sorted by name)). The URL is the public one Twilio called: behind a
TLS-terminating proxy set ``SOCIAL_TRUST_FORWARDED_HEADERS`` (or Django's ``USE_X_FORWARDED_HOST`` and
``SECURE_PROXY_SSL_HEADER``) so it is rebuilt from ``X-Forwarded-Proto``/``X-Forwarded-Host``; like
Twilio's own validator we also accept the URL with the default port added or removed. Messages have
``Body``/``NumMedia``/``MediaUrlN``; status callbacks carry ``MessageStatus``. Answer: empty TwiML.
Outbound: ``POST <api_base>/2010-04-01/Accounts/<AccountSid>/Messages.json`` with HTTP basic auth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from django.http import HttpResponse

from social import conf
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

TWILIO_API = "https://api.twilio.com"
_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "undelivered": "failed", "failed": "failed"}
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's algorithm: the URL, then each parameter name followed by its value, sorted by name."""
    payload = url + "".join(f"{k}{v}" for k, v in sorted(params, key=lambda kv: (kv[0], kv[1])))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if parts.port is not None and parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=parts.hostname or "")))
    elif parts.port is None and default:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.hostname}:{default}")))
    return variants


def _twilio_error(data: Any) -> str:
    if isinstance(data, dict) and data.get("message"):
        return f"{data['message']} (code {data.get('code')})"
    return str(data or "")


class TwilioSmsConnector(Connector):
    kind = Channel.Kind.TWILIO_SMS
    signs_url = True
    default_api_base = TWILIO_API
    fields = (
        CredentialField("account_sid", "Account SID", help_text="AC…, from the Twilio console"),
        CredentialField("auth_token", "Auth token", secret=True),
        CredentialField("from_number", "From number", help_text="Your Twilio number in E.164, e.g. +14155550100"),
        CredentialField("api_base", "API base URL", required=False, initial=TWILIO_API),
    )

    def verify(self, channel: Channel, request: WebhookRequest) -> None:
        given = request.header("X-Twilio-Signature")
        if not given:
            raise SignatureMissing("no X-Twilio-Signature")
        token = require_secret(channel, "auth_token")
        params = _form(request.body)
        for url in _url_variants(request.url):
            if hmac.compare_digest(given, twilio_signature(token, url, params)):
                return
        raise SignatureInvalid(f"signature mismatch for {request.url}")

    def parse(self, channel: Channel, request: WebhookRequest) -> Delivery:
        form = dict(_form(request.body))
        sid = form.get("MessageSid") or form.get("SmsSid")
        if not sid:
            raise MalformedPayload("MessageSid missing")
        status = form.get("MessageStatus")
        return Delivery(event_id=f"{sid}:{status}" if status else sid, events=self._events(form, sid))

    def _events(self, form: dict[str, str], sid: str) -> list[NormalisedEvent]:
        if "MessageStatus" in form:
            mapped = _STATUSES.get(form["MessageStatus"])
            if mapped is None:
                return []  # queued, accepted, sending: nothing new for staff
            error = ""
            if form.get("ErrorCode"):
                error = f"Twilio error {form['ErrorCode']}: {form.get('ErrorMessage', '')}".strip().rstrip(":")
            return [StatusUpdate(status=mapped, provider_message_ids=(sid,), error=error)]
        sender = form.get("From", "")
        if not sender:
            raise MalformedPayload("From missing")
        try:
            media_count = int(form.get("NumMedia", "0") or 0)
        except ValueError:
            raise MalformedPayload("NumMedia is not a number") from None
        attachments = tuple(
            Attachment(type="file", url=form.get(f"MediaUrl{i}", ""), mime_type=form.get(f"MediaContentType{i}", ""))
            for i in range(min(media_count, 10))
        )
        return [
            InboundMessage(
                external_user_id=sender,
                provider_message_id=sid,
                text=form.get("Body", ""),
                attachments=attachments,
                profile=Profile(phone=sender),
            )
        ]

    def ack(self) -> HttpResponse:
        return HttpResponse(TWIML_EMPTY, content_type="text/xml")

    def send(self, channel: Channel, message: OutgoingMessage) -> SendResult:
        token = channel.secret("auth_token")
        account = channel.setting("account_sid")
        if not token or not account:
            raise PermanentSendError("the channel has no account SID or auth token")
        form = {"To": message.recipient, "From": channel.setting("from_number"), "Body": message.text}
        media = [str(a.get("url")) for a in message.attachments if a.get("url")]
        if media:
            form["MediaUrl"] = media[0]
        if conf.public_url():
            form["StatusCallback"] = f"{conf.public_url()}/webhooks/{channel.webhook_key}/"
        data = request_json(
            f"{self.api_base(channel)}/2010-04-01/Accounts/{account}/Messages.json",
            form=form,
            basic_auth=(account, token),
            error_text=_twilio_error,
        )
        if not isinstance(data, dict) or not data.get("sid"):
            raise PermanentSendError(f"unexpected answer: {data!r}"[:500])
        return SendResult(provider_message_id=str(data["sid"]))

    def setup_steps(self, channel: Channel, webhook_url: str) -> list[str]:
        return [
            "In the Twilio console copy the Account SID and Auth token into the fields above, with your "
            "Twilio phone number as “From number”; save.",
            f"Phone Numbers → Manage → Active numbers → your number → Messaging: “A message comes in” → "
            f"Webhook, HTTP POST, {webhook_url}",
            "Delivery receipts: outbound messages ask Twilio to report to the same URL (StatusCallback) when "
            "SOCIAL_PUBLIC_URL is set.",
            "Behind a proxy or load balancer, the URL Twilio signs is the public one: set "
            "SOCIAL_TRUST_FORWARDED_HEADERS=true when the proxy sends X-Forwarded-Proto and X-Forwarded-Host.",
        ]


def _form(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise MalformedPayload("body is not form-encoded") from None
