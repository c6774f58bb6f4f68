"""Engage from a mention's page: a public or private reply where the channel answers comments (sent through a
fake Graph API), otherwise a task for the contact's owner; the conversation or task stays linked."""

from __future__ import annotations

from typing import Any

import pytest

from crm.models import Interaction
from social.listening.services import MentionInput, mention_ingest
from social.models import Channel, Conversation, Feed, Mention, Message
from tests.social.conftest import APP_SECRET, make_channel

__all__ = ["make_channel"]  # the fixture, for this module's tests

PAGE_ID = "1234567890"


@pytest.fixture
def page(make_channel: Any, fake_provider: Any) -> Channel:
    return make_channel(
        Channel.Kind.MESSENGER,
        page_id=PAGE_ID,
        access_token="page-token",
        app_secret=APP_SECRET,
        api_base=fake_provider.url,
    )


@pytest.fixture
def instagram(make_channel: Any, fake_provider: Any) -> Channel:
    return make_channel(
        Channel.Kind.INSTAGRAM,
        page_id="1784",
        access_token="ig-token",
        app_secret=APP_SECRET,
        api_base=fake_provider.url,
    )


def comment_mention(channel: Channel, comment_id: str = "111_222", kind: str = "comment") -> Mention:
    item = MentionInput.build(
        external_id=comment_id,
        text="Does the Acme jacket come in green?",
        author_id="5550001",
        author_name="Rider Rita",
        url=f"https://www.facebook.com/{comment_id}",
        source_meta={"kind": kind, "post_id": "1234567890_999"},
    )
    mention = mention_ingest(item=item, channel=channel).mention
    assert mention is not None
    return mention


@pytest.fixture
def feed_mention(db: None) -> Mention:
    feed = Feed.objects.create(name="Reviews", url="https://reviews.example.com/rss")
    item = MentionInput.build(
        external_id="r1",
        text="Acme support never answered <b>me</b>",
        author_handle="@critic",
        author_name="Carla Critic",
        url="https://reviews.example.com/r1",
    )
    mention = mention_ingest(item=item, feed=feed).mention
    assert mention is not None
    return mention


def engage(client: Any, mention: Mention, mode: str, text: str = "") -> Any:
    return client.post(f"/admin/social/mention/{mention.pk}/engage/", {"mode": mode, "text": text})


def test_public_reply_to_a_facebook_comment(
    page: Channel, sam: Any, login: Any, tasks: Any, fake_provider: Any
) -> None:
    mention = comment_mention(page)
    client = login(sam)
    html = client.get(f"/admin/social/mention/{mention.pk}/change/").content.decode()
    assert 'value="public"' in html and 'value="private"' in html and 'value="task"' in html
    fake_provider.script((200, {"id": "111_reply"}))
    response = engage(client, mention, "public", "Yes, in green and blue!")
    mention.refresh_from_db()
    conversation = mention.conversation
    assert conversation is not None and response.status_code == 302
    assert response["Location"] == f"/admin/social/conversation/{conversation.pk}/change/"
    assert not fake_provider.requests  # sent by the task, after the commit
    tasks.run()
    request = fake_provider.requests[-1]
    assert request.method == "POST" and request.path == "/111_222/comments"
    assert request.json() == {"message": "Yes, in green and blue!"}
    assert request.headers["authorization"] == "Bearer page-token"
    message = Message.objects.get(conversation=conversation)
    assert message.status == "sent" and message.provider_message_id == "111_reply" and message.sender_user == sam
    assert message.metadata == {"reply_to_comment": "111_222", "comment_reply": "public"}
    assert conversation.identity.external_id == "5550001" and conversation.contact.first_name == "Rider"
    assert mention.contact == conversation.contact
    page = client.get(f"/admin/social/conversation/{conversation.pk}/change/").content.decode()
    assert f'href="/admin/social/mention/{mention.pk}/change/"' in page  # the conversation shows where it began


def test_private_reply_goes_to_the_authors_inbox(
    page: Channel, sam: Any, login: Any, tasks: Any, fake_provider: Any
) -> None:
    mention = comment_mention(page)
    fake_provider.script((200, {"recipient_id": "24681357", "message_id": "m_private"}))
    engage(login(sam), mention, "private", "We sent you the colours.")
    tasks.run()
    request = fake_provider.requests[-1]
    assert request.path == f"/{PAGE_ID}/messages"
    assert request.json() == {"recipient": {"comment_id": "111_222"}, "message": {"text": "We sent you the colours."}}
    assert Message.objects.get().provider_message_id == "m_private"


def test_instagram_public_reply_and_a_second_reply_joins_the_conversation(
    instagram: Channel, sam: Any, login: Any, tasks: Any, fake_provider: Any
) -> None:
    mention = comment_mention(instagram, "17900000001")
    fake_provider.script((200, {"id": "17900000009"}), (200, {"id": "17900000010"}))
    client = login(sam)
    engage(client, mention, "public", "Thanks!")
    engage(client, mention, "public", "One more thing.")
    tasks.run()
    assert [r.path for r in fake_provider.requests] == ["/17900000001/replies", "/17900000001/replies"]
    assert Conversation.objects.count() == 1 and Message.objects.filter(status="sent").count() == 2


def test_provider_refusal_shows_on_the_message(
    page: Channel, sam: Any, login: Any, tasks: Any, fake_provider: Any
) -> None:
    mention = comment_mention(page)
    fake_provider.script((400, {"error": {"message": "(#10) Permission denied", "code": 10}}))
    engage(login(sam), mention, "public", "Hello")
    tasks.run()
    message = Message.objects.get()
    assert message.status == "failed" and "Permission denied" in message.error


def test_feed_mention_becomes_a_task_for_the_acting_staff(feed_mention: Mention, sam: Any, login: Any) -> None:
    client = login(sam)
    html = client.get(f"/admin/social/mention/{feed_mention.pk}/change/").content.decode()
    assert 'value="task"' in html and 'value="public"' not in html
    response = engage(client, feed_mention, "task", "Apologise and offer a call")
    assert response.status_code == 302
    feed_mention.refresh_from_db()
    task = feed_mention.task
    assert task is not None and task.kind == "task" and not task.done and task.due_at > task.occurred_at
    assert task.subject == "Reply to @critic on Reviews: https://reviews.example.com/r1"
    assert task.staff == sam and task.contact == feed_mention.contact
    assert task.contact.first_name == "Carla" and task.contact.source == "Listening"
    assert "Apologise and offer a call" in task.body and "never answered <b>me</b>" in task.body
    page = client.get(f"/admin/social/mention/{feed_mention.pk}/change/").content.decode()
    assert f"/admin/crm/interaction/{task.pk}/change/" in page
    again = engage(client, feed_mention, "task", "")
    assert Interaction.objects.count() == 1
    assert "already has an open task" in client.get(again["Location"]).content.decode()


def test_task_goes_to_the_contacts_owner(
    feed_mention: Mention, sam: Any, maria: Any, login: Any, make_contact: Any
) -> None:
    contact = make_contact("Carla", "Critic", owner=maria)
    Mention.objects.filter(pk=feed_mention.pk).update(contact=contact)
    engage(login(sam), feed_mention, "task")
    assert Interaction.objects.get().staff == maria


def test_reply_on_a_source_that_cannot_answer_is_refused(
    feed_mention: Mention, page: Channel, sam: Any, login: Any
) -> None:
    client = login(sam)
    response = engage(client, feed_mention, "public", "Hello")
    assert "is not possible for this mention" in client.get(response["Location"]).content.decode()
    mention = comment_mention(page)
    empty = engage(client, mention, "public", "   ")
    assert "Write the reply." in client.get(empty["Location"]).content.decode()
    on_mention = comment_mention(page, "999", kind="mention")  # an @mention on someone else's post
    engage(client, on_mention, "public", "Hi")
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_read_only_staff_cannot_engage(page: Channel, rita: Any, login: Any, feed_mention: Mention) -> None:
    mention = comment_mention(page)
    client = login(rita)
    html = client.get(f"/admin/social/mention/{mention.pk}/change/").content.decode()
    assert "Engage with Rider Rita" in html and 'name="mode"' not in html
    assert engage(client, mention, "public", "Hello").status_code == 403
    assert engage(client, feed_mention, "task").status_code == 403
    assert not Message.objects.exists() and not Interaction.objects.exists()
    assert client.get(f"/admin/social/mention/{mention.pk}/engage/").status_code == 405
