"""Web chat: the widget's endpoints as the embedding site's browser calls them (Origin header, bearer token)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from crm.models import User
from social.models import Channel, Conversation, InboundEvent, Message
from social.services.outbound import message_reply, note_add
from tests.social.conftest import post_json

SHOP = "https://shop.example.com"


@pytest.fixture
def webchat(make_channel: Any) -> Channel:
    return make_channel(
        Channel.Kind.WEBCHAT, allowed_origins=f"{SHOP}/, http://127.0.0.1:8123", title="Acme help", welcome="Hi!"
    )


class Visitor:
    """A browser on the shop's site talking to the chat endpoints."""

    def __init__(self, channel: Channel, origin: str = SHOP) -> None:
        self.client = Client()
        self.base = f"/chat/{channel.webhook_key}"
        self.origin = origin
        self.token = ""
        self.sent = 0

    def start(self, token: str = "") -> Any:
        response = self.client.post(
            f"{self.base}/session",
            data=json.dumps({"token": token or self.token}),
            content_type="application/json",
            HTTP_ORIGIN=self.origin,
        )
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"HTTP_ORIGIN": self.origin, "HTTP_AUTHORIZATION": f"Bearer {self.token if token is None else token}"}

    def write(self, text: str, message_id: str = "", token: str | None = None, **extra: Any) -> Any:
        self.sent += 1
        body = {"id": message_id or f"client-msg-{self.sent:04d}", "text": text, **extra}
        return self.client.post(
            f"{self.base}/messages", data=json.dumps(body), content_type="application/json", **self.headers(token)
        )

    def poll(self, after: int | str = 0, token: str | None = None) -> Any:
        return self.client.get(f"{self.base}/messages", {"after": after}, **self.headers(token))

    def thread(self) -> list[tuple[str, str]]:
        response = self.poll()
        assert response.status_code == 200, response.content
        return [(m["from"], m["text"]) for m in response.json()["messages"]]


def test_session_gives_a_token_that_is_kept_on_return(webchat: Channel) -> None:
    visitor = Visitor(webchat)
    response = visitor.start()
    assert response.status_code == 200
    assert response.json() | {"token": ""} == {"token": "", "title": "Acme help", "welcome": "Hi!"}
    assert response["Access-Control-Allow-Origin"] == SHOP and "Origin" in response["Vary"]
    first = visitor.token
    assert visitor.start(token=first).json()["token"] == first  # a returning visitor keeps their thread
    assert Visitor(webchat).start(token=first + "x").json()["token"] != first  # a broken token starts afresh
    assert InboundEvent.objects.count() == 0  # opening the chat stores nothing


def test_message_is_stored_before_202_and_becomes_a_conversation(webchat: Channel, tasks: Any) -> None:
    visitor = Visitor(webchat)
    visitor.start()
    response = visitor.write("Hello, do you ship to Lisbon?", name="Inês Costa", email="Ines@Example.com")
    assert response.status_code == 202 and response["Access-Control-Allow-Origin"] == SHOP
    event = InboundEvent.objects.get()
    assert event.status == "pending" and b"Lisbon" in bytes(event.body)
    assert visitor.token.encode() not in bytes(event.body)  # the credential is not kept
    assert Message.objects.count() == 0 and tasks.queued == []  # processing waits for the commit and the worker

    tasks.run()
    message = Message.objects.get()
    assert message.text == "Hello, do you ship to Lisbon?" and message.direction == "in"
    conversation = message.conversation
    assert conversation.channel == webchat and conversation.identity.display_name == "Inês Costa"
    assert conversation.contact.first_name == "Inês" and conversation.identity.email == "ines@example.com"
    assert visitor.thread() == [("visitor", "Hello, do you ship to Lisbon?")]


def test_retried_post_stores_one_message(webchat: Channel, tasks: Any) -> None:
    visitor = Visitor(webchat)
    visitor.start()
    first = visitor.write("Is the tent waterproof?", message_id="retry-me-123")
    again = visitor.write("Is the tent waterproof?", message_id="retry-me-123")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["duplicate"] is True
    tasks.run()
    assert InboundEvent.objects.count() == 1 and Message.objects.count() == 1


def test_two_visitors_with_the_same_client_id_both_get_through(webchat: Channel, tasks: Any) -> None:
    one, two = Visitor(webchat), Visitor(webchat)
    one.start()
    two.start()
    one.write("from one", message_id="same-id-0001")
    two.write("from two", message_id="same-id-0001")
    tasks.run()
    assert Message.objects.count() == 2 and Conversation.objects.count() == 2
    assert one.thread() == [("visitor", "from one")] and two.thread() == [("visitor", "from two")]


def test_staff_reply_is_sent_and_polled_without_notes_or_other_visitors(
    webchat: Channel, tasks: Any, sam: User
) -> None:
    visitor, other = Visitor(webchat), Visitor(webchat)
    visitor.start()
    other.start()
    visitor.write("Do you ship to Lisbon?")
    other.write("Someone else's question")
    tasks.run()
    conversation = Conversation.objects.get(identity__external_id__in=[visitor_id(webchat, visitor.token)])
    cursor = visitor.poll().json()["cursor"]

    note_add(conversation=conversation, text="VIP, check the discount", user=sam)
    reply = message_reply(conversation=conversation, text="Yes, in 3 days.", user=sam)
    assert visitor.poll(after=cursor).json()["messages"] == []  # queued: not shown yet
    tasks.run()
    reply.refresh_from_db()
    assert reply.status == "sent"

    response = visitor.poll(after=cursor).json()
    assert [(m["from"], m["text"], m["author"]) for m in response["messages"]] == [
        ("business", "Yes, in 3 days.", sam.first_name)
    ]
    assert response["cursor"] == reply.pk
    assert visitor.thread() == [("visitor", "Do you ship to Lisbon?"), ("business", "Yes, in 3 days.")]
    assert other.thread() == [("visitor", "Someone else's question")]


def test_reply_queued_before_a_later_message_is_not_skipped(webchat: Channel, tasks: Any, sam: User) -> None:
    visitor = Visitor(webchat)
    visitor.start()
    visitor.write("first")
    tasks.run()
    reply = message_reply(conversation=Conversation.objects.get(), text="on its way", user=sam)
    tasks.commit()
    send_task = tasks.queued.copy()
    tasks.queued.clear()  # the send task is late (busy worker)
    visitor.write("second")
    tasks.run()
    assert send_task and Message.objects.get(pk=reply.pk).status == "queued"
    seen = visitor.poll().json()
    assert [m["text"] for m in seen["messages"]] == ["first", "second"]
    assert seen["cursor"] < reply.pk  # the cursor waits for the queued reply

    tasks.queued.extend(send_task)
    tasks.run()
    later = visitor.poll(after=seen["cursor"]).json()
    assert "on its way" in [m["text"] for m in later["messages"]]


def visitor_id(channel: Channel, token: str) -> str:
    from social.connectors.webchat import visitor_from_token

    return visitor_from_token(channel, token)


def test_origin_not_allowed_is_refused_without_cors_headers(webchat: Channel, tasks: Any) -> None:
    visitor = Visitor(webchat)
    visitor.start()
    for origin in ("https://evil.example", "", "null", "https://shop.example.com.evil.example"):
        intruder = Visitor(webchat, origin=origin)
        intruder.token = visitor.token
        for response in (intruder.start(), intruder.write("hi"), intruder.poll()):
            assert response.status_code == 403, origin
            assert "Access-Control-Allow-Origin" not in response
    assert InboundEvent.objects.count() == 0
    # The allowed list is read as origins: a trailing slash in the setting and another port both count.
    assert Visitor(webchat, origin="http://127.0.0.1:8123").start().status_code == 200
    assert Visitor(webchat, origin="http://127.0.0.1:8124").start().status_code == 403


def test_preflight_is_answered_for_allowed_origins_only(webchat: Channel) -> None:
    client = Client()
    url = f"/chat/{webchat.webhook_key}/messages"
    allowed = client.options(url, HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert allowed.status_code == 204 and allowed["Access-Control-Allow-Origin"] == SHOP
    assert "Authorization" in allowed["Access-Control-Allow-Headers"]
    assert "POST" in allowed["Access-Control-Allow-Methods"]
    refused = client.options(url, HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused


def test_missing_or_forged_token_is_refused(webchat: Channel, make_channel: Any, tasks: Any) -> None:
    visitor = Visitor(webchat)
    visitor.start()
    assert visitor.write("hi", token="").status_code == 401
    assert visitor.poll(token="").status_code == 401
    forged = visitor.token.rsplit(":", 1)[0] + ":forgedsignature"
    assert visitor.write("hi", token=forged).status_code == 403
    assert visitor.poll(token=forged).status_code == 403
    # A token made for another web chat channel does not open this one.
    other = make_channel(Channel.Kind.WEBCHAT, allowed_origins=SHOP)
    stranger = Visitor(other)
    stranger.start()
    response = visitor.write("hi", token=stranger.token)
    assert response.status_code == 403 and response.json() == {"error": "bad visitor token"}
    assert InboundEvent.objects.count() == 0


def test_bad_input_is_a_clear_400(webchat: Channel, tasks: Any) -> None:
    visitor = Visitor(webchat)
    visitor.start()
    too_long = visitor.write("x" * 5001)
    assert too_long.status_code == 400 and too_long.json() == {"error": "text: at most 5000 characters"}
    assert too_long["Access-Control-Allow-Origin"] == SHOP  # the widget can read the reason
    assert visitor.write("   ").json() == {"error": "text: write a message"}
    assert visitor.write("hi", message_id="x").status_code == 400
    assert visitor.write("hi", email="not an address").json()["error"].startswith("email:")
    assert visitor.write("hi", name=["list"]).status_code == 400
    assert visitor.write("nul \x00 byte").json() == {"error": "text: contains a NUL character"}
    assert visitor.poll(after="abc").status_code == 400
    not_json = visitor.client.post(
        f"{visitor.base}/messages", data=b"{", content_type="application/json", **visitor.headers()
    )
    assert not_json.status_code == 400
    huge = visitor.client.post(
        f"{visitor.base}/messages",
        data=json.dumps({"id": "big-body-01", "text": "y" * 70_000}),
        content_type="application/json",
        **visitor.headers(),
    )
    assert huge.status_code == 413
    assert visitor.write("x" * 5000).status_code == 202  # the limit itself is fine
    assert InboundEvent.objects.count() == 1


def test_unknown_or_inactive_channel_is_404(webchat: Channel, make_channel: Any) -> None:
    assert Visitor(webchat).start().status_code == 200
    webchat.is_active = False  # as the admin saves it (saving a channel empties the channel cache)
    webchat.save(update_fields=["is_active"])
    assert Visitor(webchat).start().status_code == 404
    api = make_channel(Channel.Kind.API, outbound_url="https://partner.example/", signing_secret="s" * 32)
    assert Visitor(api).start().status_code == 404  # only web chat channels have widget endpoints


def test_webhook_url_cannot_inject_visitor_messages(webchat: Channel) -> None:
    body = {"visitor": "wv_aaaaaaaaaaaaaaaaaaaaaaaa", "message": {"id": "m-000001", "text": "spoofed"}}
    assert post_json(Client(), webchat, body).status_code == 401
    assert InboundEvent.objects.count() == 0


def test_channel_admin_shows_the_embed_tag(webchat: Channel, login: Any, ada: User) -> None:
    page = login(ada).get(f"/admin/social/channel/{webchat.pk}/change/").content.decode()
    assert f"data-channel=&quot;{webchat.webhook_key}&quot;" in page  # shown escaped, as text to copy
    assert "&lt;script src=&quot;http://testserver/static/webchat/widget.js&quot;" in page
    assert 'name="allowed_origins"' in page
    assert 'id="webhook-url"' not in page  # visitors never use the webhook URL: it is not offered


def test_widget_files_are_served(client: Client) -> None:
    script = b"".join(client.get("/static/webchat/widget.js").streaming_content)  # type: ignore[attr-defined]
    assert b"textContent" in script and b"innerHTML" not in script
    assert client.get("/static/webchat/widget.css").status_code == 200


def test_a_visitor_posting_faster_than_a_person_types_is_slowed_down(
    webchat: Channel, tasks: Any, settings: Any
) -> None:
    settings.WEBCHAT_MESSAGES_PER_MINUTE = 3
    visitor = Visitor(webchat)
    visitor.start()

    answers = [visitor.write(f"message {n}") for n in range(4)]

    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert 1 <= int(answers[-1]["Retry-After"]) <= 60
    assert answers[-1]["Access-Control-Allow-Origin"] == SHOP  # the widget can read the refusal
    tasks.run()
    assert Message.objects.filter(direction="in").count() == 3


def test_the_limit_holds_across_the_turn_of_a_minute(
    webchat: Channel, tasks: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WEBCHAT_MESSAGES_PER_MINUTE = 3
    clock = {"now": 1_800_000_000 + 59.0}  # a second before a minute turns
    monkeypatch.setattr("social.webchat_views.time.time", lambda: clock["now"])
    visitor = Visitor(webchat)
    visitor.start()
    answers = []
    for step in (0.0, 0.3, 0.6, 1.2, 1.5):  # three before the turn, two after
        clock["now"] = 1_800_000_000 + 59.0 + step
        answers.append(visitor.write(f"message {step}").status_code)
    assert answers == [202, 202, 202, 429, 429]
    clock["now"] = 1_800_000_000 + 150.0  # a minute and a half later (refused attempts counted too)
    assert visitor.write("later").status_code == 202


def test_a_typed_email_never_attaches_the_visitor_to_an_existing_customer(
    webchat: Channel, tasks: Any, make_contact: Any
) -> None:
    customer = make_contact("Vera", "Lang", email="vera@example.com")
    visitor = Visitor(webchat)
    visitor.start()

    assert visitor.write("Please send my invoices here", name="Vera", email="vera@example.com").status_code == 202
    tasks.run()

    conversation = Conversation.objects.get()
    assert conversation.contact_id != customer.pk
    assert list(conversation.contact.emails.values_list("email", flat=True)) == ["vera@example.com"]
    assert not customer.conversations.exists()
