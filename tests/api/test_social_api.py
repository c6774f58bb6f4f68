# ruff: noqa: F811 - the channel fixtures are imported from tests/social/conftest.py
"""Channels, conversations, messages and identities through the partner API: Paul's helpdesk tool reads the
inbox, changes conversations and replies through the conversation's channel; staff see internal notes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from crm.models import Contact, User
from social.models import Channel, Conversation, Identity, Message
from tests.api.conftest import problem
from tests.social.conftest import TELEGRAM_TOKEN, fake_provider, make_channel, tasks  # noqa: F401 - fixtures

INBOX = ["channels:read", "conversations:write", "messages:write", "contacts:read"]


@pytest.fixture
def telegram(make_channel: Callable[..., Channel], fake_provider: Any) -> Channel:
    return make_channel(Channel.Kind.TELEGRAM, "Support bot", bot_token=TELEGRAM_TOKEN, api_base=fake_provider.url)


def thread(channel: Channel, contact: Contact, chat_id: str = "4242", **values: Any) -> Conversation:
    """A conversation with the customer's first message (as an inbound webhook would have stored it)."""
    identity = Identity.objects.create(channel=channel, external_id=chat_id, contact=contact, handle="@anna")
    conversation = Conversation.objects.create(
        channel=channel, contact=contact, identity=identity, last_inbound_at=timezone.now(), **values
    )
    Message.objects.create(
        conversation=conversation, channel=channel, direction="in", text="Where is my order?",
        sender_type="contact", sender_contact=contact, status="received",
    )  # fmt: skip
    return conversation


def test_channels_never_show_secrets(partner: Any, telegram: Channel) -> None:
    body = partner(INBOX).get("/api/v1/channels/").json()
    assert body["results"] == [
        {
            "id": telegram.pk, "kind": "telegram", "name": "Support bot", "active": True, "team": "",
            "created_at": body["results"][0]["created_at"], "updated_at": body["results"][0]["updated_at"],
        }
    ]  # fmt: skip
    raw = partner(INBOX).get(f"/api/v1/channels/{telegram.pk}/").content.decode()
    assert TELEGRAM_TOKEN not in raw and telegram.webhook_key not in raw
    problem(partner(["contacts:read"]).get("/api/v1/channels/"), 403)


def test_partner_filters_and_changes_conversations(
    partner: Any, telegram: Channel, make_contact: Any, sam: User
) -> None:
    anna, bert = make_contact("Anna"), make_contact("Bert")
    first = thread(telegram, anna)
    thread(telegram, bert, chat_id="77", status="pending", team="billing")
    desk = partner(INBOX)
    assert [c["contact"] for c in desk.get("/api/v1/conversations/?status=pending").json()["results"]] == [bert.pk]
    assert [c["contact"] for c in desk.get("/api/v1/conversations/?team=billing").json()["results"]] == [bert.pk]
    assert [c["id"] for c in desk.get(f"/api/v1/conversations/?contact={anna.pk}").json()["results"]] == [first.pk]

    read = desk.get(f"/api/v1/conversations/{first.pk}/")
    change = {"status": "resolved", "assignee": sam.pk, "labels": ["refund"], "priority": 3}
    changed = desk.patch(f"/api/v1/conversations/{first.pk}/", change, format="json", HTTP_IF_MATCH=read["ETag"])
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["status"], body["assignee"], body["labels"], body["priority"]) == ("resolved", sam.pk, ["refund"], 3)
    assert body["resolved_at"] is not None and changed["ETag"] != read["ETag"]
    assert [c["id"] for c in desk.get(f"/api/v1/conversations/?assignee={sam.pk}").json()["results"]] == [first.pk]

    # A stale ETag, a non-staff assignee, a snooze without a time, an unknown field: refused, nothing changed.
    stale = desk.patch(f"/api/v1/conversations/{first.pk}/", {"priority": 0}, format="json", HTTP_IF_MATCH=read["ETag"])
    problem(stale, 412)
    customer = User.objects.create_user(username="not-staff")
    assert (
        problem(desk.patch(f"/api/v1/conversations/{first.pk}/", {"assignee": customer.pk}, format="json"), 400)[
            "errors"
        ][0]["field"]
        == "assignee"
    )
    problem(desk.patch(f"/api/v1/conversations/{first.pk}/", {"status": "snoozed"}, format="json"), 400)
    past = {"status": "snoozed", "snoozed_until": (timezone.now() - dt.timedelta(minutes=5)).isoformat()}
    refused = problem(desk.patch(f"/api/v1/conversations/{first.pk}/", past, format="json"), 400)
    assert [(e["field"], e["message"]) for e in refused["errors"]] == [
        ("snoozed_until", "The wake-up time must be in the future.")
    ]
    problem(desk.patch(f"/api/v1/conversations/{first.pk}/", {"colour": "red"}, format="json"), 400)
    first.refresh_from_db()
    assert (first.status, first.priority) == ("resolved", 3)
    problem(partner(["conversations:read"]).patch(f"/api/v1/conversations/{first.pk}/", {}, format="json"), 403)


def test_reply_through_the_api_is_queued_then_sent(
    partner: Any,
    telegram: Channel,
    make_contact: Any,
    tasks: Any,
    fake_provider: Any,
) -> None:
    conversation = thread(telegram, make_contact("Anna"))
    fake_provider.script((200, {"ok": True, "result": {"message_id": 99, "chat": {"id": 4242}}}))
    desk = partner(INBOX)
    answer = desk.post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "On its way!"}, format="json",
        HTTP_IDEMPOTENCY_KEY="reply-1",
    )  # fmt: skip
    assert answer.status_code == 202, answer.content
    assert (answer.json()["status"], answer.json()["direction"]) == ("queued", "out")
    retry = desk.post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "On its way!"}, format="json",
        HTTP_IDEMPOTENCY_KEY="reply-1",
    )  # fmt: skip
    assert retry["Idempotent-Replayed"] == "true" and Message.objects.filter(direction="out").count() == 1
    tasks.run()
    assert fake_provider.requests[-1].json() == {"chat_id": "4242", "text": "On its way!"}
    sent = desk.get(answer["Location"]).json()
    assert sent["status"] == "sent"
    # The global list and its filters see it too.
    outbound = desk.get(f"/api/v1/messages/?direction=out&channel={telegram.pk}").json()["results"]
    assert [m["text"] for m in outbound] == ["On its way!"]
    by_global = desk.post(
        "/api/v1/messages/", {"conversation": conversation.pk, "text": "Anything else?"}, format="json"
    )
    assert by_global.status_code == 202 and by_global.json()["conversation"] == conversation.pk
    assert problem(desk.post("/api/v1/messages/", {"text": "x"}, format="json"), 400)["errors"][0]["field"] == (
        "conversation"
    )
    problem(desk.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "  "}, format="json"), 422)
    problem(partner(["messages:read"]).post("/api/v1/messages/", {"conversation": 1, "text": "x"}, format="json"), 403)


def test_closed_whatsapp_window_is_a_422_naming_the_reason(
    partner: Any,
    make_channel: Any,
    make_contact: Any,
    tasks: Any,
) -> None:
    whatsapp = make_channel(Channel.Kind.WHATSAPP, phone_number_id="1", access_token="t", app_secret="s")
    conversation = thread(whatsapp, make_contact("Klaus"), chat_id="4915112345678")
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - dt.timedelta(hours=25))
    body = problem(
        partner(INBOX).post(f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "News?"}, format="json"),
        422,
    )
    assert body["type"] == "urn:scrm:problem:whatsapp_window_closed" and "24 hours" in body["detail"]
    assert not Message.objects.filter(direction="out").exists() and not tasks.queued


def test_internal_notes_are_for_staff_only(
    partner: Any, telegram: Channel, make_contact: Any, sam: User, login: Any
) -> None:
    conversation = thread(telegram, make_contact("Anna"))
    Message.objects.create(
        conversation=conversation, channel=telegram, direction="out", is_internal_note=True, text="VIP, be nice",
        sender_type="staff", sender_user=sam,
    )  # fmt: skip
    as_partner = partner(INBOX).get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert [m["text"] for m in as_partner] == ["Where is my order?"]
    assert [m["text"] for m in partner(INBOX).get("/api/v1/messages/").json()["results"]] == ["Where is my order?"]
    note = Message.objects.get(is_internal_note=True)
    problem(partner(INBOX).get(f"/api/v1/messages/{note.pk}/"), 404)
    as_staff = login(sam).get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert [(m["text"], m["is_internal_note"]) for m in as_staff] == [
        ("Where is my order?", False),
        ("VIP, be nice", True),
    ]
    problem(partner(INBOX).get("/api/v1/conversations/999999/messages/"), 404)


def test_identities_are_listed_under_their_contact(partner: Any, telegram: Channel, make_contact: Any) -> None:
    anna = make_contact("Anna")
    thread(telegram, anna)
    body = partner(["contacts:read"]).get(f"/api/v1/contacts/{anna.pk}/identities/").json()["results"]
    assert [(i["channel"], i["channel_kind"], i["external_id"], i["handle"]) for i in body] == [
        (telegram.pk, "telegram", "4242", "@anna")
    ]
    problem(partner(["channels:read"]).get(f"/api/v1/contacts/{anna.pk}/identities/"), 403)
    problem(partner(["contacts:read"]).get("/api/v1/contacts/999999/identities/"), 404)
