"""Staff answer from the conversation page: thread, reply, notes, assign / resolve / snooze, the contact beside it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from social.models import Channel, Conversation, Message
from social.services.outbound import note_add
from social.tasks import requeue_stale_events
from tests.social.conftest import TELEGRAM_TOKEN, post_json
from tests.social.test_telegram import update

HOSTILE = '<script>alert("x")</script><b>bold</b> & friends'


@pytest.fixture
def telegram(make_channel: Any, fake_provider: Any) -> Channel:
    return make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN, api_base=fake_provider.url)


def customer_writes(channel: Channel, tasks: Any, text: str, update_id: int = 1, message_id: int = 1) -> Conversation:
    post_json(
        Client(),
        channel,
        update(update_id=update_id, message_id=message_id, text=text),
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=channel.secret("webhook_secret"),
    )
    tasks.run()
    return Conversation.objects.get()


def page(conversation: Conversation) -> str:
    return f"/admin/social/conversation/{conversation.pk}/change/"


def test_thread_escapes_customer_text_and_shows_the_contact(telegram: Channel, tasks: Any, sam: Any, login: Any):
    conversation = customer_writes(telegram, tasks, HOSTILE)

    response = login(sam).get(page(conversation))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; friends" in html
    assert 'id="conversation-contact"' in html and "Tom Baker" in html
    assert 'name="reply_text"' in html and 'name="_send_reply"' in html


def test_reply_from_the_page_is_sent_through_the_channel(
    telegram: Channel, tasks: Any, fake_provider: Any, sam: Any, login: Any
):
    conversation = customer_writes(telegram, tasks, "Where is my parcel?")
    client = login(sam)
    fake_provider.script((200, {"ok": True, "result": {"message_id": 501, "chat": {"id": 4242}}}))

    response = client.post(page(conversation), {"reply_text": "It left our warehouse today.", "_send_reply": "1"})

    assert response.status_code == 302 and response["Location"] == page(conversation)
    reply = Message.objects.get(direction="out")
    assert reply.status == "queued" and reply.sender_user == sam
    assert fake_provider.requests == []  # sent by the worker, after commit
    tasks.run()
    request = fake_provider.requests[-1]
    assert request.path == f"/bot{TELEGRAM_TOKEN}/sendMessage"
    assert request.json()["text"] == "It left our warehouse today." and request.json()["chat_id"] in (4242, "4242")
    reply.refresh_from_db()
    conversation.refresh_from_db()
    assert reply.status == "sent" and reply.provider_message_id
    assert conversation.first_response_at is not None
    html = client.get(page(conversation)).content.decode()
    assert "It left our warehouse today." in html and "Sent" in html


def test_failed_reply_shows_the_providers_reason(
    telegram: Channel, tasks: Any, fake_provider: Any, sam: Any, login: Any
):
    conversation = customer_writes(telegram, tasks, "Hello?")
    client = login(sam)
    fake_provider.script((400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}))
    client.post(page(conversation), {"reply_text": "Hi!", "_send_reply": "1"})
    tasks.run()

    html = client.get(page(conversation)).content.decode()
    assert "thread-status-failed" in html and "chat not found" in html


def test_internal_note_is_never_sent(telegram: Channel, tasks: Any, fake_provider: Any, sam: Any, login: Any):
    conversation = customer_writes(telegram, tasks, "Hello")

    login(sam).post(page(conversation), {"reply_text": "Customer is a VIP, be nice", "_add_note": "1"})
    tasks.run()

    note = Message.objects.get(is_internal_note=True)
    assert note.text == "Customer is a VIP, be nice" and note.sender_user == sam
    assert fake_provider.requests == []


def test_empty_reply_is_refused_with_a_message(telegram: Channel, tasks: Any, sam: Any, login: Any):
    conversation = customer_writes(telegram, tasks, "Hello")
    client = login(sam)

    response = client.post(page(conversation), {"reply_text": "  ", "_send_reply": "1"}, follow=True)

    assert "Write a message" in response.content.decode()
    assert not Message.objects.filter(direction="out").exists()


def test_assign_to_me_resolve_reopen_and_snooze(telegram: Channel, tasks: Any, sam: Any, login: Any):
    conversation = customer_writes(telegram, tasks, "Hello")
    client = login(sam)

    client.post(page(conversation), {"_assign_me": "1"})
    conversation.refresh_from_db()
    assert conversation.assignee == sam

    client.post(page(conversation), {"_resolve": "1"})
    conversation.refresh_from_db()
    assert conversation.status == "resolved" and conversation.resolved_at is not None

    client.post(page(conversation), {"_reopen": "1"})
    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.resolved_at is None

    before = timezone.now()
    client.post(page(conversation), {"_snooze": "1d"})
    conversation.refresh_from_db()
    assert conversation.status == "snoozed"
    assert before + dt.timedelta(hours=23) < conversation.snoozed_until < before + dt.timedelta(hours=25)


def test_the_form_saves_priority_labels_and_refuses_a_snooze_without_time(
    telegram: Channel, tasks: Any, sam: Any, login: Any
):
    conversation = customer_writes(telegram, tasks, "Hello")
    client = login(sam)
    form = {
        "status": "snoozed",
        "snoozed_until_0": "",
        "snoozed_until_1": "",
        "priority": "3",
        "assignee": "",
        "team": "Support",
        "labels": "billing, vip, billing",
    }

    refused = client.post(page(conversation), form)
    assert refused.status_code == 200 and "Snoozing needs a time" in refused.content.decode()
    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.priority == 1

    saved = client.post(page(conversation), {**form, "status": "pending"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    conversation.refresh_from_db()
    assert conversation.status == "pending" and conversation.priority == 3
    assert conversation.labels == ["billing", "vip"] and conversation.team == "Support"


def test_snoozed_conversation_wakes_up_when_its_time_comes(telegram: Channel, tasks: Any, sam: Any, login: Any):
    conversation = customer_writes(telegram, tasks, "Hello")
    Conversation.objects.filter(pk=conversation.pk).update(
        status="snoozed", snoozed_until=timezone.now() - dt.timedelta(minutes=1)
    )

    requeue_stale_events()

    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.snoozed_until is None


def test_read_only_staff_see_the_thread_but_cannot_answer(telegram: Channel, tasks: Any, rita: Any, login: Any):
    conversation = customer_writes(telegram, tasks, "Hello")
    client = login(rita)

    html = client.get(page(conversation)).content.decode()
    assert "Hello" in html and 'name="reply_text"' not in html
    assert client.post(page(conversation), {"reply_text": "Hi", "_send_reply": "1"}).status_code == 403
    assert not Message.objects.filter(direction="out").exists()


def test_whatsapp_closed_window_is_explained_and_free_text_refused(make_channel: Any, make_contact: Any, sam, login):
    from social.models import Identity

    channel = make_channel(
        Channel.Kind.WHATSAPP, phone_number_id="111", access_token="token", app_secret="app-secret-0123456789"
    )
    contact = make_contact("Lena", "Vogel")
    identity = Identity.objects.create(channel=channel, external_id="491701234567", contact=contact)
    conversation = Conversation.objects.create(
        channel=channel,
        contact=contact,
        identity=identity,
        last_inbound_at=timezone.now() - dt.timedelta(hours=30),
    )
    client = login(sam)

    html = client.get(page(conversation)).content.decode()
    assert 'id="whatsapp-window-closed"' in html and 'name="template_name"' in html
    response = client.post(page(conversation), {"reply_text": "Hello again", "_send_reply": "1"}, follow=True)
    assert "24 hours" in response.content.decode()
    assert not Message.objects.filter(direction="out").exists()


def test_page_queries_do_not_grow_with_the_thread(telegram: Channel, tasks: Any, sam: Any, login: Any):
    conversation = customer_writes(telegram, tasks, "first")
    client = login(sam)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(page(conversation)).status_code == 200
        return len(captured)

    for i in range(4):
        note_add(conversation=conversation, text=f"note {i}", user=sam)
    few = queries()
    for i in range(45):
        note_add(conversation=conversation, text=f"more {i}", user=sam)
    assert queries() == few


def test_changes_on_the_page_are_recorded_in_the_history(telegram: Channel, tasks: Any, sam: Any, login: Any):
    from auditlog.models import LogEntry

    conversation = customer_writes(telegram, tasks, "Hello")
    login(sam).post(page(conversation), {"_resolve": "1"})

    entry = LogEntry.objects.get_for_object(conversation).filter(actor=sam).latest("timestamp")
    assert entry.changes_dict["status"] == ["open", "resolved"]


def test_thread_follows_the_order_messages_were_sent_not_stored(
    telegram: Channel, tasks: Any, sam: Any, login: Any
) -> None:
    later = update(update_id=2, message_id=2, text="second, stored first")
    later["message"]["date"] = 1_700_000_060
    earlier = update(update_id=1, message_id=1, text="first, stored second")
    for payload in (later, earlier):  # two workers can finish in this order
        post_json(Client(), telegram, payload, HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=telegram.secret("webhook_secret"))
        tasks.run()

    html = login(sam).get(page(Conversation.objects.get())).content.decode()

    assert html.index("first, stored second") < html.index("second, stored first")
