"""Email: Mailgun route POSTs (signed in the body) in, replies out through a real SMTP server on loopback.

The SMTP server is aiosmtpd on 127.0.0.1; it records each envelope and answers from a script (a 550 for
the recipient, a 451 for the data, a login check), so the connector is tested down to the SMTP dialogue.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from django.test import Client

from social.models import Channel, Conversation, InboundEvent, Message
from social.services.channels import channel_update_settings
from social.services.conversations import conversation_set_status
from social.services.outbound import message_reply

SIGNING_KEY = "key-mailgun-signing-0123456789abcdef"
SUPPORT = "help@shop.example"
CUSTOMER = '"José Müller" <Jose.Mueller@Example.COM>'
CUSTOMER_ADDRESS = "jose.mueller@example.com"
FIRST_ID = "<CAF1-first@mail.example.com>"


# --- A real SMTP server on loopback ------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class FakeSmtp:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    rcpt_reply: str = ""  # e.g. "550 5.1.1 …": refuse every recipient
    data_replies: list[str] = field(default_factory=list)  # answers to DATA, in order; then 250
    password: str = ""  # when set, AUTH is offered and checked

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        assert isinstance(envelope.content, bytes)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"mailer" and data.password == self.password.encode()
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtp]:
    fake = FakeSmtp(port=free_port())
    controller = Controller(
        fake,
        hostname="127.0.0.1",
        port=fake.port,
        authenticator=fake.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield fake
    finally:
        controller.stop()


# --- Mailgun-shaped inbound POSTs --------------------------------------------------------------------------


def signed(key: str = SIGNING_KEY, timestamp: int | None = None, token: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": signature}


def email_fields(
    *,
    message_id: str = FIRST_ID,
    subject: str = "Order 1042 arrived damaged",
    text: str = "The vase in order 1042 arrived broken. Can you send a new one?",
    in_reply_to: str = "",
    references: str = "",
) -> dict[str, str]:
    headers = [
        ["Received", "from mail.example.com by mxa.mailgun.org"],
        ["From", CUSTOMER],
        ["To", SUPPORT],
        ["Subject", subject],
        ["Message-Id", message_id],
        ["Date", "Sun, 29 Nov 2026 10:15:00 +0100"],
    ]
    if in_reply_to:
        headers += [["In-Reply-To", in_reply_to], ["References", references]]
    quoted = "\n\n> On Friday, Shop Support wrote:\n> Thanks for your order!"
    return {
        "recipient": SUPPORT,
        "sender": "bounces+SRS=abc@mail.example.com",
        "from": CUSTOMER,
        "subject": subject,
        "body-plain": text + quoted,
        "stripped-text": text,
        "stripped-signature": "-- \nJosé",
        "Message-Id": message_id,
        "message-headers": json.dumps(headers),
    }


def multipart(fields: dict[str, str], files: list[tuple[str, str, str, bytes]]) -> tuple[bytes, str]:
    """Encode like Mailgun: text fields, then the files (field name, file name, type, bytes)."""
    boundary = "mailgun-" + secrets.token_hex(8)
    chunks = []
    for name, value in fields.items():
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        chunks.append(value.encode() + b"\r\n")
    for name, filename, mime_type, data in files:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {mime_type}\r\n\r\n".encode()
        )
        chunks.append(data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def post(channel: Channel, fields: dict[str, str], files: list[tuple[str, str, str, bytes]] | None = None) -> Any:
    """POST multipart (with files, as Mailgun does) or form-encoded (without)."""
    url = f"/webhooks/{channel.webhook_key}/"
    if files is not None:
        body, content_type = multipart(fields, files)
        return Client().post(url, data=body, content_type=content_type)
    return Client().post(url, data=urlencode(fields), content_type="application/x-www-form-urlencoded")


def smtp_settings(port: int, **overrides: str) -> dict[str, str]:
    values = {
        "from_address": SUPPORT,
        "smtp_host": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_security": "none",
        "webhook_signing_key": SIGNING_KEY,
    }
    return {**values, **overrides}


@pytest.fixture
def email_channel(make_channel: Any, smtp_server: FakeSmtp) -> Channel:
    return make_channel(Channel.Kind.EMAIL, name="Shop Support", **smtp_settings(smtp_server.port))


def receive_first_email(channel: Channel, tasks: Any) -> Message:
    assert post(channel, {**email_fields(), **signed()}).status_code == 200
    tasks.run()
    return Message.objects.get(provider_message_id=FIRST_ID)


# --- Inbound -----------------------------------------------------------------------------------------------


def test_signed_email_with_attachments_opens_a_conversation(email_channel: Channel, tasks: Any) -> None:
    pdf = b"%PDF-1.7\r\n" + bytes(range(256)) * 4
    files = [
        ("attachment-1", "photo of the vase.jpg", "image/jpeg", b"\xff\xd8\xff" + b"\x00" * 997),
        ("attachment-2", "invoice 1042.pdf", "application/pdf", pdf),
    ]
    fields = {**email_fields(), "attachment-count": "2", **signed()}
    assert post(email_channel, fields, files).status_code == 200
    tasks.run()

    message = Message.objects.get()
    assert message.text == "The vase in order 1042 arrived broken. Can you send a new one?"  # quote stripped
    assert message.provider_message_id == FIRST_ID and message.direction == "in"
    assert message.metadata == {"subject": "Order 1042 arrived damaged", "message_id": FIRST_ID}
    assert message.attachments == [
        {"type": "image", "url": "", "mime_type": "image/jpeg", "name": "photo of the vase.jpg", "size": 1000},
        {"type": "file", "url": "", "mime_type": "application/pdf", "name": "invoice 1042.pdf", "size": len(pdf)},
    ]
    identity = message.conversation.identity
    assert identity.external_id == CUSTOMER_ADDRESS and identity.display_name == "José Müller"
    contact = message.conversation.contact
    assert (contact.first_name, contact.last_name) == ("José", "Müller")
    assert list(contact.emails.values_list("email", flat=True)) == [CUSTOMER_ADDRESS]


def test_reply_joins_the_conversation_and_redelivery_is_stored_once(email_channel: Channel, tasks: Any) -> None:
    first = receive_first_email(email_channel, tasks)
    again = {**email_fields(), **signed()}  # Mailgun delivers the same email again under a new token
    assert post(email_channel, again).status_code == 200
    assert post(email_channel, again).status_code == 200  # and the very same POST twice
    follow_up = email_fields(
        message_id="<CAF2-second@mail.example.com>",
        subject="Re: Order 1042 arrived damaged",
        text="Here is the order number again: 1042.",
        in_reply_to=FIRST_ID,
        references=FIRST_ID,
    )
    assert post(email_channel, {**follow_up, **signed()}).status_code == 200
    tasks.run()

    assert InboundEvent.objects.count() == 3
    messages = list(Message.objects.order_by("pk"))
    assert [m.provider_message_id for m in messages] == [FIRST_ID, "<CAF2-second@mail.example.com>"]
    assert {m.conversation_id for m in messages} == {first.conversation_id}
    assert messages[1].metadata["in_reply_to"] == FIRST_ID and messages[1].metadata["references"] == FIRST_ID


def test_missing_wrong_or_stale_signature_is_refused(email_channel: Channel, tasks: Any) -> None:
    assert post(email_channel, email_fields()).status_code == 401
    no_signature = {k: v for k, v in signed().items() if k != "signature"}
    assert post(email_channel, {**email_fields(), **no_signature}).status_code == 401
    assert post(email_channel, {**email_fields(), **signed(key="key-someone-else")}).status_code == 403
    stale = signed(timestamp=int(time.time()) - 600)
    assert post(email_channel, {**email_fields(), **stale}).status_code == 403
    future = signed(timestamp=int(time.time()) + 600)
    assert post(email_channel, {**email_fields(), **future}, files=[]).status_code == 403
    tampered = {**email_fields(), **signed()}
    tampered["signature"] = tampered["signature"][:-4] + "0000"
    assert post(email_channel, tampered).status_code == 403
    assert InboundEvent.objects.count() == 0 and Message.objects.count() == 0


def test_malformed_bodies_are_refused_and_nothing_is_stored(email_channel: Channel, tasks: Any) -> None:
    no_sender = {**email_fields(), "from": "", "sender": "", **signed()}
    no_sender["message-headers"] = "[]"
    assert post(email_channel, no_sender).status_code == 400
    bad_headers = {**email_fields(), "message-headers": "{not json", **signed()}
    assert post(email_channel, bad_headers).status_code == 400
    bad_count = {**email_fields(), "attachment-count": "two", **signed()}
    assert post(email_channel, bad_count, files=[]).status_code == 400

    body, _ = multipart({**email_fields(), **signed()}, [])
    url = f"/webhooks/{email_channel.webhook_key}/"
    wrong_boundary = Client().post(url, data=body, content_type="multipart/form-data; boundary=not-the-one")
    assert wrong_boundary.status_code == 401  # nothing readable, so no signature either
    json_body = Client().post(url, data=json.dumps(signed()), content_type="application/json")
    assert json_body.status_code == 401
    assert InboundEvent.objects.count() == 0 and Message.objects.count() == 0


# --- Outbound over SMTP ------------------------------------------------------------------------------------


def test_reply_is_sent_over_smtp_in_the_customers_thread(
    email_channel: Channel, tasks: Any, smtp_server: FakeSmtp, sam: Any
) -> None:
    root = "<root-0@shop.example>"
    fields = {**email_fields(in_reply_to=root, references=root), **signed()}
    post(email_channel, fields)
    tasks.run()
    conversation = Conversation.objects.get()
    reply = message_reply(conversation=conversation, text="Sorry, José! A new vase is on its way.", user=sam)
    tasks.run()

    reply.refresh_from_db()
    assert reply.status == "sent", reply.error
    [received] = smtp_server.received
    assert received.mail_from == SUPPORT and received.rcpt_tos == [CUSTOMER_ADDRESS]
    email = received.message
    assert email["Subject"] == "Re: Order 1042 arrived damaged"
    assert email["From"] == f"Shop Support <{SUPPORT}>" and email["To"] == CUSTOMER_ADDRESS
    assert email["In-Reply-To"] == FIRST_ID
    assert email["References"] == f"{root} {FIRST_ID}"
    assert email["Message-ID"] == reply.provider_message_id and reply.provider_message_id.endswith("@shop.example>")
    body = email.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Sorry, José! A new vase is on its way."
    assert reply.metadata["subject"] == "Re: Order 1042 arrived damaged"
    assert reply.metadata["references"] == f"{root} {FIRST_ID}"

    # The customer answers our reply after staff closed the conversation: it reopens the same one, and
    # our answer to that keeps a single "Re:" and the whole chain.
    conversation_set_status(conversation=conversation, status=Conversation.Status.RESOLVED)
    answer_id = "<CAF3-third@mail.example.com>"
    chain = f"{root} {FIRST_ID} {reply.provider_message_id}"
    answer = email_fields(
        message_id=answer_id,
        subject="Re: Order 1042 arrived damaged",
        text="Thank you, it arrived!",
        in_reply_to=reply.provider_message_id,
        references=chain,
    )
    assert post(email_channel, {**answer, **signed()}).status_code == 200
    tasks.run()
    stored = Message.objects.get(provider_message_id=answer_id)
    assert stored.conversation_id == conversation.pk
    assert Conversation.objects.get().status == Conversation.Status.OPEN

    message_reply(conversation=Conversation.objects.get(), text="Glad to hear it.", user=sam)
    tasks.run()
    second = smtp_server.received[-1].message
    assert second["Subject"] == "Re: Order 1042 arrived damaged"
    assert second["In-Reply-To"] == answer_id and second["References"] == f"{chain} {answer_id}"


def test_recipient_refused_with_550_fails_with_the_servers_reason(
    email_channel: Channel, tasks: Any, smtp_server: FakeSmtp, sam: Any
) -> None:
    receive_first_email(email_channel, tasks)
    smtp_server.rcpt_reply = "550 5.1.1 <jose.mueller@example.com>: Recipient address rejected"
    reply = message_reply(conversation=Conversation.objects.get(), text="Hello", user=sam)
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "failed" and "550" in reply.error and "Recipient address rejected" in reply.error
    assert tasks.scheduled == [] and smtp_server.received == []


def test_451_and_a_closed_port_are_retried_until_the_server_takes_it(
    email_channel: Channel, tasks: Any, smtp_server: FakeSmtp, sam: Any
) -> None:
    receive_first_email(email_channel, tasks)
    smtp_server.data_replies = ["451 4.3.0 Mail server temporarily rejected message"]
    reply = message_reply(conversation=Conversation.objects.get(), text="Hello", user=sam)
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "queued" and "451" in reply.error and reply.next_attempt_at is not None
    assert len(tasks.scheduled) == 1

    port = smtp_server.port
    Channel.objects.filter(pk=email_channel.pk).update(
        config={**email_channel.config, "smtp_port": str(free_port())}  # nobody listens there
    )
    tasks.run_scheduled()
    reply.refresh_from_db()
    assert reply.status == "queued" and "cannot reach the SMTP server" in reply.error
    assert len(tasks.scheduled) == 1

    Channel.objects.filter(pk=email_channel.pk).update(config={**email_channel.config, "smtp_port": str(port)})
    tasks.run_scheduled()
    reply.refresh_from_db()
    assert reply.status == "sent" and reply.send_attempts == 3
    assert len(smtp_server.received) == 1


def test_smtp_login_is_used_and_a_refused_login_fails(
    make_channel: Any, tasks: Any, smtp_server: FakeSmtp, sam: Any
) -> None:
    smtp_server.password = "right-password"
    channel = make_channel(
        Channel.Kind.EMAIL,
        **smtp_settings(smtp_server.port, smtp_username="mailer", smtp_password="wrong-password"),
    )
    receive_first_email(channel, tasks)
    refused = message_reply(conversation=Conversation.objects.get(), text="Hello", user=sam)
    tasks.run()
    refused.refresh_from_db()
    assert refused.status == "failed" and "SMTP login refused: 535" in refused.error

    channel_update_settings(
        channel=channel,
        values=smtp_settings(smtp_server.port, smtp_username="mailer", smtp_password="right-password"),
    )
    sent = message_reply(conversation=Conversation.objects.get(), text="Hello again", user=sam)
    tasks.run()
    sent.refresh_from_db()
    assert sent.status == "sent", sent.error
    assert len(smtp_server.received) == 1


def test_unusable_smtp_settings_fail_with_a_clear_reason(
    make_channel: Any, tasks: Any, smtp_server: FakeSmtp, sam: Any
) -> None:
    channel = make_channel(Channel.Kind.EMAIL, **smtp_settings(smtp_server.port, smtp_security="tls"))
    receive_first_email(channel, tasks)
    reply = message_reply(conversation=Conversation.objects.get(), text="Hello", user=sam)
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "failed" and "starttls, ssl, none" in reply.error
    assert smtp_server.received == []


def test_an_email_with_a_large_attachment_is_accepted_and_an_absurd_one_refused(
    email_channel: Channel, tasks: Any
) -> None:
    photo = secrets.token_bytes(5 * 1024 * 1024)  # five times the limit other channels have
    fields = {**email_fields(), **signed(), "attachment-count": "1"}
    assert post(email_channel, fields, [("attachment-1", "damage.jpg", "image/jpeg", photo)]).status_code == 200
    tasks.run()
    message = Message.objects.get(provider_message_id=FIRST_ID)
    assert message.attachments[0]["name"] == "damage.jpg" and message.attachments[0]["size"] == len(photo)

    url = f"/webhooks/{email_channel.webhook_key}/"
    huge = Client().post(url, data=b"x", content_type="multipart/form-data; boundary=x", CONTENT_LENGTH=str(64 << 20))
    assert huge.status_code == 413


def test_the_conversation_page_shows_the_emails_subject(email_channel: Channel, tasks: Any, sam: Any) -> None:
    message = receive_first_email(email_channel, tasks)
    client = Client()
    client.force_login(sam)

    html = client.get(f"/admin/social/conversation/{message.conversation_id}/change/").content.decode()

    assert "Subject: Order 1042 arrived damaged" in html
