"""Routing runs under concurrency, on PostgreSQL: the same message routed by several workers at once is
routed once (one reply), and rules assigning many messages at once never exceed an agent's capacity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from crm.models import Contact
from routing.models import AgentProfile, RoutingRun, Rule, Team
from routing.services.assignment import agent_loads
from routing.services.rules import message_route
from routing.tasks import route_messages
from social.models import Channel, Conversation, Message
from tests.helpers.concurrency import run_concurrently
from tests.social.conftest import TELEGRAM_TOKEN

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises all writers")


def inbound(channel: Channel, n: int) -> Message:
    contact = Contact.objects.create(first_name="Customer", last_name=str(n))
    identity = channel.identities.create(external_id=str(9000 + n), contact=contact)
    conversation = Conversation.objects.create(channel=channel, contact=contact, identity=identity)
    return Message.objects.create(
        conversation=conversation, channel=channel, direction="in", sender_type="contact", text=f"help {n}"
    )


def test_the_same_message_routed_by_six_workers_replies_once(
    make_channel: Callable[..., Channel], make_rule: Callable[..., Rule], tasks: Any
) -> None:
    telegram = make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN, api_base="http://127.0.0.1:9")
    make_rule("Ack", actions=[{"type": "reply", "template": "Thanks {contact.first_name}"}])
    message = inbound(telegram, 1)
    errors = run_concurrently(lambda _: message_route(message_id=message.pk), list(range(6)))
    assert errors == []
    assert RoutingRun.objects.filter(message=message).count() == 1
    assert Message.objects.filter(direction="out").count() == 1


def test_rules_assigning_at_once_respect_capacity(
    make_channel: Callable[..., Channel],
    make_rule: Callable[..., Rule],
    make_agent: Callable[..., AgentProfile],
    tasks: Any,
) -> None:
    telegram = make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN, api_base="http://127.0.0.1:9")
    support = Team.objects.create(name="Support")
    agents = [make_agent(name, team=support, capacity=2) for name in ("ana", "ben")]
    make_rule("Route", actions=[{"type": "assign_team", "team": support.pk}])
    messages = [inbound(telegram, n) for n in range(10)]
    errors = run_concurrently(lambda m: message_route(message_id=m.pk), messages)
    assert errors == []
    loads = agent_loads([a.user_id for a in agents])
    assert [loads[a.user_id].total for a in agents] == [2, 2]
    assert RoutingRun.objects.count() == 10
    assert Conversation.objects.filter(assignee__isnull=True, queue_entry__team=support).count() == 6


def test_overlapping_batches_routed_at_once_route_each_message_once_within_capacity(
    make_channel: Callable[..., Channel],
    make_rule: Callable[..., Rule],
    make_agent: Callable[..., AgentProfile],
    tasks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    telegram = make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN, api_base="http://127.0.0.1:9")
    support = Team.objects.create(name="Support")
    agents = [make_agent(name, team=support, capacity=3) for name in ("ana", "ben")]
    make_rule("Route", actions=[{"type": "assign_team", "team": support.pk}])
    make_rule("Ack", actions=[{"type": "reply", "template": "Thanks {contact.first_name}"}])
    messages = [inbound(telegram, n) for n in range(12)]
    ids = [m.pk for m in messages]
    # Four workers, each given most of the messages in its own order (a retried task, a second drain).
    batches = [ids[:9], ids[3:][::-1], ids[::2] + ids[1::2], ids[6:] + ids[:6]]
    errors = run_concurrently(lambda batch: route_messages(*batch), batches)
    assert errors == []
    assert "routing them one by one" not in caplog.text  # no deadlock: the batches took their locks in order
    assert RoutingRun.objects.count() == 12
    assert sorted(RoutingRun.objects.values_list("message_id", flat=True)) == sorted(ids)
    assert Message.objects.filter(direction="out").count() == 12  # one reply per message, never two
    loads = agent_loads([a.user_id for a in agents])
    assert [loads[a.user_id].total for a in agents] == [3, 3]
    assert Conversation.objects.filter(assignee__isnull=True, queue_entry__team=support).count() == 6
