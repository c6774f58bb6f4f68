"""Email: inbound through a Mailgun route, outbound over the channel's own SMTP server.

Inbound: a Mailgun route ``forward("https://<crm>/webhooks/<key>/")`` POSTs each received email, parsed,
as ``application/x-www-form-urlencoded`` (or ``multipart/form-data`` when it has attachments): ``from``,
``sender``, ``recipient``, ``subject``, ``body-plain``, ``stripped-text`` (the reply without the quoted
history), ``Message-Id``, ``message-headers`` (a JSON list of ``[name, value]`` pairs: In-Reply-To,
References), ``attachment-count`` and the files ``attachment-1`` … (we keep name, type and size; the
bytes are not stored). The signature travels in the body: ``signature`` = hex HMAC-SHA256(webhook
signing key, ``timestamp`` + ``token``). It does not cover the body, so the token is the event id: a
replayed token, whatever body comes with it, is the stored event again and adds nothing. Requests more
than five minutes from our clock are refused.

The customer is the ``From`` address (lower-cased), not the envelope ``sender``, which forwarders and
mailing lists rewrite into bounce addresses. The email's Message-Id is the message's provider id, so a
redelivered email is stored once.

Outbound: ``EmailMessage`` over Django's SMTP backend with the channel's host, port, security and login.
A reply answers the customer's latest email: ``In-Reply-To`` its Message-Id, ``References`` its chain
plus its Message-Id, ``Subject: Re: <its subject>``; our fresh ``Message-ID`` becomes the provider id.
Connection failures, timeouts and 4xx replies are retried; 5xx replies and refused logins are final.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from email.utils import formataddr, make_msgid, parseaddr
from urllib.parse import parse_qsl

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email

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
    SendError,
    SendResult,
    SignatureInvalid,
    SignatureMissing,
    TransientSendError,
    WebhookRequest,
    hmac_hex,
    require_secret,
)
from social.models import Channel

TOLERANCE_SECONDS = 300
SECURITY_CHOICES = ("starttls", "ssl", "none")
MAX_ATTACHMENTS = 50
MAX_REFERENCES = 20  # ids kept in References: the first (thread root) and the most recent ones
_REPLY_PREFIX = re.compile(r"^\s*re\s*:", re.IGNORECASE)
_ATTACHMENT_FIELD = re.compile(r"attachment-\d+")


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    return hmac_hex(signing_key, f"{timestamp}{token}".encode())


@dataclass(frozen=True)
class _Form:
    """A Mailgun POST: its fields (names lower-cased, first value wins) and its file parts."""

    fields: dict[str, str]
    files: tuple[Attachment, ...]

    def get(self, name: str) -> str:
        return self.fields.get(name.lower(), "")


class EmailConnector(Connector):
    kind = Channel.Kind.EMAIL
    answers_in_thread = True
    # Mailgun posts attachments inside the webhook and accepts messages up to 25 MB; base64 and the
    # multipart framing add about a third.
    max_body_bytes = 36 * 1024 * 1024
    fields = (
        CredentialField(
            "from_address", "Support address", help_text="The address customers write to, e.g. help@example.com"
        ),
        CredentialField("smtp_host", "SMTP host", help_text="e.g. smtp.mailgun.org"),
        CredentialField("smtp_port", "SMTP port", initial="587", help_text="587 for STARTTLS, 465 for SSL"),
        CredentialField("smtp_security", "SMTP security", initial="starttls", help_text="starttls, ssl or none"),
        CredentialField("smtp_username", "SMTP user name", required=False),
        CredentialField("smtp_password", "SMTP password", secret=True, required=False),
        CredentialField(
            "webhook_signing_key",
            "Mailgun HTTP webhook signing key",
            secret=True,
            help_text="Mailgun → Sending → Webhooks → HTTP webhook signing key",
        ),
    )

    def verify(self, channel: Channel, request: WebhookRequest) -> None:
        try:
            form = _form(request.body, request.header("content-type"))
        except MalformedPayload:
            raise SignatureMissing("body unreadable, so no signature fields") from None
        timestamp, token, given = form.get("timestamp"), form.get("token"), form.get("signature")
        if not timestamp or not token or not given:
            raise SignatureMissing("timestamp, token or signature field missing")
        try:
            stamp = int(timestamp)
        except ValueError:
            raise SignatureInvalid("timestamp is not a number") from None
        if abs(time.time() - stamp) > TOLERANCE_SECONDS:
            raise SignatureInvalid("timestamp outside the tolerance")
        expected = mailgun_signature(require_secret(channel, "webhook_signing_key"), timestamp, token)
        if not hmac.compare_digest(given.lower(), expected):
            raise SignatureInvalid("signature mismatch")

    def parse(self, channel: Channel, request: WebhookRequest) -> Delivery:
        form = _form(request.body, request.header("content-type"))
        token = form.get("token")
        if not token:
            raise MalformedPayload("token missing")
        return Delivery(event_id=f"mailgun:{token}"[:255], events=self._events(form))

    def _events(self, form: _Form) -> list[NormalisedEvent]:
        headers = _headers(form.get("message-headers"))
        name, address = parseaddr(form.get("from") or headers.get("from", ""))
        address = address.strip().lower()
        if not address:
            address = parseaddr(form.get("sender"))[1].strip().lower()
        if not _is_address(address):
            raise MalformedPayload("no usable sender address in from/sender")
        subject = form.get("subject") or headers.get("subject", "")
        message_id = (form.get("message-id") or headers.get("message-id", "")).strip()
        if not message_id:
            # Rare (the receiving server usually adds one); the token keeps redeliveries of this POST apart.
            message_id = f"<{form.get('token')}@mailgun.invalid>"
        metadata = {
            "subject": subject[:998],
            "message_id": message_id[:998],
            "in_reply_to": (form.get("in-reply-to") or headers.get("in-reply-to", "")).strip()[:998],
            "references": _trim_references(form.get("references") or headers.get("references", "")),
        }
        text = form.get("stripped-text").strip() or form.get("body-plain").strip() or subject
        return [
            InboundMessage(
                external_user_id=address,
                provider_message_id=message_id[:255],
                text=text,
                attachments=_attachments(form),
                profile=Profile(name=name.strip(), email=address),
                metadata={k: v for k, v in metadata.items() if v},
            )
        ]

    def send(self, channel: Channel, message: OutgoingMessage) -> SendResult:
        """Send over the channel's SMTP server; raise Transient/PermanentSendError (see the module doc)."""
        from_address = channel.setting("from_address").strip()
        host = channel.setting("smtp_host").strip()
        security = channel.setting("smtp_security", "starttls").strip().lower() or "starttls"
        if not _is_address(from_address) or not host:
            raise PermanentSendError("the channel needs a valid support address and an SMTP host")
        if security not in SECURITY_CHOICES:
            raise PermanentSendError(f"SMTP security must be one of {', '.join(SECURITY_CHOICES)}, not {security!r}")
        port_text = channel.setting("smtp_port").strip() or ("465" if security == "ssl" else "587")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise PermanentSendError(f"SMTP port is not a port number: {port_text!r}")
        if not _is_address(message.recipient):
            raise PermanentSendError(f"not an email address: {message.recipient!r}")

        domain = from_address.rpartition("@")[2] or None
        our_id = make_msgid(domain=domain)
        thread = message.thread
        subject = _reply_subject(thread.get("subject", ""), fallback=f"Message from {channel.name}")
        headers = {"Message-ID": our_id}
        references = ""
        if thread.get("message_id"):
            references = _trim_references(f"{thread.get('references', '')} {thread['message_id']}")
            headers["In-Reply-To"] = thread["message_id"]
            headers["References"] = references
        email = EmailMessage(
            subject=subject,
            body=_body(message),
            from_email=formataddr((channel.name, from_address)),
            to=[message.recipient],
            headers=headers,
        )
        connection = get_connection(
            "django.core.mail.backends.smtp.EmailBackend",
            host=host,
            port=int(port_text),
            username=channel.setting("smtp_username"),
            password=channel.secret("smtp_password"),
            use_tls=security == "starttls",
            use_ssl=security == "ssl",
            timeout=conf.http_timeout(),
            fail_silently=False,
        )
        try:
            connection.send_messages([email])
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            raise _send_error(exc) from None
        metadata = {"subject": subject, "message_id": our_id, "in_reply_to": headers.get("In-Reply-To", "")}
        metadata["references"] = references
        return SendResult(provider_message_id=our_id, metadata={k: v for k, v in metadata.items() if v})

    def setup_steps(self, channel: Channel, webhook_url: str) -> list[str]:
        address = channel.setting("from_address") or "help@example.com"
        return [
            "Support address: the address customers write to (it is also the From of every reply), on a "
            "domain whose MX records point at Mailgun (Mailgun → Domain settings → DNS records).",
            "SMTP: the server replies go out through, with SPF/DKIM set up for that domain so replies do not "
            "land in spam. With Mailgun: host smtp.mailgun.org, port 587, security starttls, and the user "
            "name and password from Domain settings → SMTP credentials. Security is starttls (usually port "
            "587), ssl (port 465) or none (a relay on a trusted network, port 25).",
            "Webhook signing key: Mailgun → Settings → API Security → HTTP webhook signing key (also shown "
            "under Sending → Webhooks). Without it every inbound email is refused and Mailgun keeps retrying.",
            f"Mailgun → Receiving → Routes → Create route: expression “Match recipient” {address} "
            f'(match_recipient("{address}")), action “Forward” to {webhook_url}; save.',
            "Test: write to the support address from your own mailbox. The email appears under Inbound "
            "events and then as a conversation; answer it there and the reply arrives in your mailbox, "
            "threaded under your email.",
        ]


def _send_error(exc: Exception) -> SendError:
    """Sort what Django's SMTP backend raised into retry-later or give-up."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return PermanentSendError(f"SMTP login refused: {exc.smtp_code} {_text(exc.smtp_error)}", status=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        reason = "; ".join(f"{code} {_text(text)}" for code, text in replies)
        if replies and all(code >= 500 for code, _ in replies):
            return PermanentSendError(f"recipient refused: {reason}", status=replies[0][0])
        return TransientSendError(f"recipient deferred: {reason}")
    if isinstance(exc, smtplib.SMTPResponseException):  # sender refused, data refused, connect/helo replies
        reason = f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}"
        if exc.smtp_code >= 500:
            return PermanentSendError(reason, status=exc.smtp_code)
        return TransientSendError(reason, status=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentSendError(f"the SMTP server does not support this: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentSendError(f"the SMTP server's certificate is not trusted: {exc}")
    if isinstance(exc, smtplib.SMTPException | OSError):  # disconnected, refused, timeout, DNS, TLS
        return TransientSendError(f"cannot reach the SMTP server: {type(exc).__name__}: {exc}")
    return PermanentSendError(f"{type(exc).__name__}: {exc}")  # ValueError: an address or header Django refused


def _text(value: bytes | str) -> str:
    return (value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)).strip()[:500]


def _is_address(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _reply_subject(subject: str, *, fallback: str) -> str:
    subject = " ".join(subject.split())  # folded headers and stray newlines
    if not subject:
        return fallback
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"


def _trim_references(value: str) -> str:
    """RFC 5322 lets a long chain drop middle ids; keep the root and the most recent ones."""
    ids = value.split()
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return " ".join(ids)


def _body(message: OutgoingMessage) -> str:
    links = [f"{a.get('name') or 'Attachment'}: {a['url']}" for a in message.attachments if a.get("url")]
    return message.text + ("\n\n" + "\n".join(links) if links else "")


def _headers(raw: str) -> dict[str, str]:
    """``message-headers``: the email's headers, lower-cased names, first occurrence kept."""
    if not raw:
        return {}
    try:
        pairs = json.loads(raw)
    except ValueError:
        raise MalformedPayload("message-headers is not JSON") from None
    if not isinstance(pairs, list):
        raise MalformedPayload("message-headers is not a list")
    headers: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str):
            headers.setdefault(pair[0].lower(), str(pair[1]))
    return headers


def _attachments(form: _Form) -> tuple[Attachment, ...]:
    count_text = form.get("attachment-count") or "0"
    if not count_text.isdigit():
        raise MalformedPayload("attachment-count is not a number")
    return form.files[:MAX_ATTACHMENTS]


def _attachment(name: str, mime_type: str, size: int) -> Attachment:
    major = mime_type.partition("/")[0]
    kind = major if major in ("image", "audio", "video") else "file"
    return Attachment(type=kind, mime_type=mime_type, name=name[:255], size=size)


@functools.lru_cache(maxsize=1)  # verify and parse read the same body in one request (up to 36 MB)
def _form(body: bytes, content_type: str) -> _Form:
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        return _multipart(body, content_type)
    if media_type in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise MalformedPayload("body is not form-encoded") from None
        fields: dict[str, str] = {}
        for key, value in pairs:
            fields.setdefault(key.lower(), value)
        return _Form(fields=fields, files=())
    raise MalformedPayload(f"unexpected content type {media_type!r}")


def _multipart(body: bytes, content_type: str) -> _Form:
    """Read multipart/form-data with the stdlib MIME parser (the stored body, not Django's request.POST)."""
    try:
        header = content_type.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedPayload("content type is not ASCII") from None
    parsed = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + header + b"\r\n\r\n" + body)
    if not parsed.is_multipart() or parsed.defects:
        raise MalformedPayload("body is not multipart/form-data with the declared boundary")
    fields: dict[str, str] = {}
    files: list[Attachment] = []
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            if _ATTACHMENT_FIELD.fullmatch(name):
                files.append(_attachment(_clean(filename), part.get_content_type(), len(data)))
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            value = data.decode(charset, errors="replace")
        except LookupError:
            value = data.decode("utf-8", errors="replace")
        fields.setdefault(name.lower(), value)
    return _Form(fields=fields, files=tuple(files))


def _clean(filename: str) -> str:
    """A file name as text the database takes: bytes the parser could not decode become U+FFFD."""
    return filename.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "")
