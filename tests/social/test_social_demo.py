"""``make run``'s social demo: a web chat channel with conversations, and a page to try the widget on."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.core.management import call_command
from django.test import Client

from social.models import Channel, Conversation, InboundEvent, Message


def test_demo_is_loaded_once_through_the_real_pipeline(db: None) -> None:
    call_command("seed_social_demo", "--origin", "http://testserver", stdout=StringIO())
    out = StringIO()
    call_command("seed_social_demo", stdout=out)

    assert "already loaded" in out.getvalue()
    channel = Channel.objects.get(kind=Channel.Kind.WEBCHAT)
    assert Conversation.objects.filter(channel=channel).count() == 4
    assert Message.objects.filter(direction="in").count() == 5
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}
    angry = Message.objects.get(text__startswith="My order 1042")
    assert angry.sentiment is not None and angry.sentiment < 0 and angry.language == "en"


def test_demo_page_embeds_the_channel_that_allows_its_origin(db: None, settings: Any) -> None:
    call_command("seed_social_demo", "--origin", "http://testserver", stdout=StringIO())
    channel = Channel.objects.get(kind=Channel.Kind.WEBCHAT)

    html = Client().get("/webchat/demo/").content.decode()
    assert f'data-channel="{channel.webhook_key}"' in html and "/static/webchat/widget.js" in html

    other_host = Client().get("/webchat/demo/", HTTP_HOST="localhost").content.decode()
    assert "No active web chat channel allows" in other_host and "data-channel=" not in other_host

    settings.PRODUCTION = True
    assert Client().get("/webchat/demo/").status_code == 404
