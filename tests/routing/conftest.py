"""Routing fixtures: agents (staff users with a profile), teams, channels and conversations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crm.models import Contact, User
from crm.roles import AGENT
from routing.models import AgentProfile, Team, TeamMembership
from social.models import Channel, Conversation
from tests.conftest import make_staff
from tests.social.conftest import TaskRecorder, make_channel, tasks  # noqa: F401 - fixtures used here

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
