"""Identities map to contacts; conversations open, reopen, resolve; re-link and merge move them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from social.models import Channel, Conversation, Identity, InboundEvent, Message
from social.services.conversations import conversation_set_status
from social.services.identities import identities_and_conversations_move, identity_relink
from social.services.outbound import note_add
from tests.social.conftest import TELEGRAM_TOKEN, post_json
from tests.social.test_telegram import update


@pytest.fixture
def telegram(make_channel: Any) -> Channel:
    return make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)


def deliver(channel: Channel, tasks: Any, update_id: int, message_id: int, chat: int = 4242) -> None:
    payload = update(update_id=update_id, message_id=message_id)
    payload["message"]["chat"]["id"] = payload["message"]["from"]["id"] = chat
    post_json(Client(), channel, payload, HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=channel.secret("webhook_secret"))
    tasks.run()


def test_a_message_joins_the_open_conversation_when_a_newer_one_is_resolved(telegram: Channel, tasks: Any) -> None:
    """After a merge the contact's resolved conversation (moved over) can be newer than its open one."""
    deliver(telegram, tasks, 1, 1)
    open_one = Conversation.objects.get()
    moved = Conversation.objects.create(
        channel=telegram, contact=open_one.contact, status="resolved", resolved_at=timezone.now()
    )
    conversation_set_status(conversation=open_one, status="pending")
    deliver(telegram, tasks, 2, 2)
    open_one.refresh_from_db()
    moved.refresh_from_db()
    assert (open_one.status, open_one.messages.count()) == ("open", 2)
    assert (moved.status, moved.messages.count()) == ("resolved", 0)
    assert InboundEvent.objects.filter(status="processed").count() == 2


def test_message_on_resolved_conversation_reopens_it(telegram: Channel, tasks: Any, sam: Any) -> None:
    deliver(telegram, tasks, 1, 1)
    conversation = Conversation.objects.get()
    conversation_set_status(conversation=conversation, status="resolved", actor=sam)
    conversation.refresh_from_db()
    assert conversation.resolved_at is not None
    deliver(telegram, tasks, 2, 2)
    conversation.refresh_from_db()
    assert Conversation.objects.count() == 1
    assert conversation.status == "open" and conversation.resolved_at is None
    assert conversation.messages.count() == 2


def test_snoozed_needs_a_time_and_wakes_on_a_message(telegram: Channel, tasks: Any) -> None:
    from django.utils import timezone

    deliver(telegram, tasks, 1, 1)
    conversation = Conversation.objects.get()
    with pytest.raises(ValidationError):
        conversation_set_status(conversation=conversation, status="snoozed")
    with pytest.raises(ValidationError) as refused:  # any caller: the admin, the API, a rule
        conversation_set_status(conversation=conversation, status="snoozed", snoozed_until=timezone.now())
    assert refused.value.message_dict == {"snoozed_until": ["The wake-up time must be in the future."]}
    conversation.refresh_from_db()
    assert conversation.status == "open"
    conversation_set_status(
        conversation=conversation, status="snoozed", snoozed_until=timezone.now() + dt.timedelta(hours=1)
    )
    deliver(telegram, tasks, 2, 2)
    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.snoozed_until is None


def test_relink_moves_identity_and_its_conversation(telegram: Channel, tasks: Any, make_contact: Any, sam: Any) -> None:
    deliver(telegram, tasks, 1, 1)
    identity = Identity.objects.get()
    anna = make_contact("Anna", "Schmidt")
    identity_relink(identity=identity, contact=anna, actor=sam)
    identity.refresh_from_db()
    assert identity.contact == anna
    assert Conversation.objects.get().contact == anna
    assert Message.objects.get().sender_contact == anna


def test_merge_moves_identities_and_joins_open_conversations(telegram: Channel, tasks: Any, sam: Any) -> None:
    deliver(telegram, tasks, 1, 1, chat=1)
    deliver(telegram, tasks, 2, 2, chat=2)
    first, second = (Identity.objects.get(external_id=x).contact for x in ("1", "2"))
    assert first != second
    identities_and_conversations_move(from_contact=second, to_contact=first)
    assert set(Identity.objects.values_list("contact", flat=True)) == {first.pk}
    open_conversations = Conversation.objects.exclude(status="resolved")
    assert open_conversations.count() == 1
    assert open_conversations.get().contact == first and open_conversations.get().messages.count() == 2


def test_internal_note_is_never_sent(telegram: Channel, tasks: Any, sam: Any) -> None:
    deliver(telegram, tasks, 1, 1)
    note = note_add(conversation=Conversation.objects.get(), text="VIP, be nice", user=sam)
    tasks.run()
    assert note.is_internal_note and note.status == "" and tasks.queued == []


def test_invalid_phone_from_provider_is_dropped_not_fatal(make_channel: Any, tasks: Any) -> None:
    from social.connectors.base import Profile
    from social.services.identities import identity_resolve

    channel = make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)
    identity = identity_resolve(channel=channel, external_id="9", profile=Profile(name="X", phone="12"))
    assert identity.phone == "" and not identity.contact.phones.exists()


def test_a_known_sender_with_an_overlong_name_is_stored_cut_to_the_column(telegram: Channel, tasks: Any) -> None:
    deliver(telegram, tasks, 1, 1)
    payload = update(update_id=2, message_id=2)
    payload["message"]["from"]["first_name"] = "A" * 300  # the profile changed: applied to the known identity
    post_json(Client(), telegram, payload, HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=telegram.secret("webhook_secret"))
    tasks.run()
    assert InboundEvent.objects.filter(status="processed").count() == 2
    assert Identity.objects.get().display_name.startswith("A" * 199) and len(Identity.objects.get().display_name) == 200
