"""Routing fixtures: agents (staff users with a profile), teams, channels and conversations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from crm.models import Contact, User
from crm.roles import AGENT
from routing.models import AgentProfile, Rule, Team, TeamMembership
from social.models import Channel, Conversation
from tests.conftest import make_staff
from tests.social.conftest import (  # noqa: F401 - fixtures used here
    TELEGRAM_TOKEN,
    TaskRecorder,
    fake_provider,
    make_channel,
    post_json,
    tasks,
)

__all__ = ["TaskRecorder"]


@pytest.fixture
def make_agent(db: None) -> Callable[..., AgentProfile]:
    def _make(username: str, *, team: Team | None = None, **fields: Any) -> AgentProfile:
        user = User.objects.filter(username=username).first() or make_staff(username, AGENT)
        fields.setdefault("availability", AgentProfile.Availability.ONLINE)
        agent = AgentProfile.objects.create(user=user, **fields)
        if team is not None:
            TeamMembership.objects.create(team=team, agent=agent)
        return agent

    return _make


@pytest.fixture
def support(db: None) -> Team:
    return Team.objects.create(name="Support")


@pytest.fixture
def whatsapp(make_channel: Callable[..., Channel]) -> Channel:  # noqa: F811
    return make_channel(Channel.Kind.WHATSAPP, name="Shop WhatsApp")


@pytest.fixture
def email_channel(make_channel: Callable[..., Channel]) -> Channel:  # noqa: F811
    return make_channel(Channel.Kind.EMAIL, name="Shop e-mail")


@pytest.fixture
def make_conversation(db: None) -> Callable[..., Conversation]:
    counter = {"n": 0}

    def _make(channel: Channel, contact: Contact | None = None, **fields: Any) -> Conversation:
        counter["n"] += 1
        if contact is None:
            contact = Contact.objects.create(first_name="Customer", last_name=str(counter["n"]))
        return Conversation.objects.create(channel=channel, contact=contact, **fields)

    return _make


# --- Rules ---------------------------------------------------------------------------------------------------


@pytest.fixture
def make_rule(db: None) -> Callable[..., Rule]:
    """A rule validated and normalised as the admin does (``full_clean``), then saved."""

    def _make(name: str = "Rule", **fields: Any) -> Rule:
        rule = Rule(name=name, **fields)
        rule.full_clean()
        rule.save()
        return rule

    return _make


@pytest.fixture
def telegram(make_channel: Callable[..., Channel], fake_provider: Any) -> Channel:  # noqa: F811
    fake_provider.default = (200, {"ok": True, "result": {"message_id": 99}}, {})
    return make_channel(Channel.Kind.TELEGRAM, name="Shop bot", bot_token=TELEGRAM_TOKEN, api_base=fake_provider.url)


class TelegramCustomer:
    """Tom Baker writing to the shop's Telegram bot through the real webhook URL."""

    def __init__(self, channel: Channel, user_id: int = 4242, first_name: str = "Tom") -> None:
        self.channel, self.user_id, self.first_name = channel, user_id, first_name
        self.sequence = 0

    def writes(self, text: str) -> Any:
        self.sequence += 1
        update = {
            "update_id": 10_000 + self.user_id * 100 + self.sequence,
            "message": {
                "message_id": self.sequence,
                "from": {"id": self.user_id, "is_bot": False, "first_name": self.first_name, "last_name": "Baker"},
                "chat": {"id": self.user_id, "type": "private"},
                "date": 1_700_000_000 + self.sequence,
                "text": text,
            },
        }
        response = post_json(
            Client(),
            self.channel,
            update,
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=self.channel.secret("webhook_secret"),
        )
        assert response.status_code == 200
        return response


@pytest.fixture
def tom(telegram: Channel) -> TelegramCustomer:
    return TelegramCustomer(telegram)


def sent_texts(fake: Any) -> list[str]:
    """The texts the bot sent through the fake Telegram API."""
    return [r.json()["text"] for r in fake.requests if r.path.endswith("/sendMessage")]
