"""Out of office: outside business hours one automatic reply per conversation per closed period, and the
conversation waits in the team's queue until the opening (the drain does not assign while closed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from routing.models import AgentProfile, BusinessHours, OpeningPeriod, QueueEntry, Rule, Team
from routing.services.assignment import team_queue_drain
from routing.services.rules import message_route
from social.models import Conversation
from tests.routing.conftest import TelegramCustomer, sent_texts

pytestmark = pytest.mark.django_db

# Office hours Monday–Friday 09:00–17:00 in Berlin. 2026-06-10 is a Wednesday (UTC+2 in June).
WED_EVENING = dt.datetime(2026, 6, 10, 18, 0, tzinfo=dt.UTC)  # 20:00 Berlin: closed
WED_LATER = dt.datetime(2026, 6, 10, 21, 0, tzinfo=dt.UTC)  # 23:00 Berlin: the same closed period
THU_MORNING = dt.datetime(2026, 6, 11, 7, 30, tzinfo=dt.UTC)  # 09:30 Berlin: open
THU_EVENING = dt.datetime(2026, 6, 11, 19, 0, tzinfo=dt.UTC)  # 21:00 Berlin: the next closed period


@pytest.fixture
def office_team(db: None) -> Team:
    hours = BusinessHours.objects.create(name="Berlin office", timezone="Europe/Berlin")
    for day in range(5):
        OpeningPeriod.objects.create(business_hours=hours, weekday=day, start=dt.time(9), end=dt.time(17))
    return Team.objects.create(name="Support", business_hours=hours)


@pytest.fixture
def ooo_rules(make_rule: Callable[..., Rule], office_team: Team) -> None:
    make_rule(
        "Route to support",
        actions=[
            {"type": "assign_team", "team": office_team.pk},
            {"type": "out_of_office", "template": "Hi {contact.first_name}, we are closed. We open {next_opening}."},
        ],
    )


def route_at(at: dt.datetime, tasks: Any) -> None:
    """Process the stored webhooks, then route each new message as of ``at``."""
    tasks.commit()
    while tasks.queued:
        func, args = tasks.queued.pop(0)
        if func == "routing.tasks.route_messages":
            for message_id in args:
                message_route(message_id=message_id, now=at)
        else:
            tasks.queued.insert(0, (func, args))
            tasks.run(limit=1)
        tasks.commit()


def test_one_reply_per_closed_period_and_the_conversation_waits(
    ooo_rules: None,
    office_team: Team,
    make_agent: Callable[..., AgentProfile],
    tom: TelegramCustomer,
    tasks: Any,
    fake_provider: Any,
) -> None:
    make_agent("ana", team=office_team)  # online, with room: still not assigned while closed
    tom.writes("Hello, anyone there?")
    route_at(WED_EVENING, tasks)
    tasks.run()
    assert sent_texts(fake_provider) == ["Hi Tom, we are closed. We open Thursday 09:00 (Europe/Berlin)."]
    conversation = Conversation.objects.get()
    assert conversation.assignee_id is None and conversation.team == "Support"
    assert QueueEntry.objects.filter(conversation=conversation, team=office_team).exists()

    tom.writes("Hello???")
    route_at(WED_LATER, tasks)
    tasks.run()
    assert len(sent_texts(fake_provider)) == 1  # same closed period: no second reply

    # The queue drain does not assign while the team is closed, and does at the opening.
    assert team_queue_drain(team=office_team, now=WED_LATER) == 0
    assert Conversation.objects.get().assignee_id is None
    assert team_queue_drain(team=office_team, now=THU_MORNING) == 1
    assert Conversation.objects.get().assignee.username == "ana"

    tom.writes("Thanks, one more question tonight")
    route_at(THU_EVENING, tasks)
    tasks.run()
    # A new closed period: one new reply. The conversation stays with its agent.
    assert len(sent_texts(fake_provider)) == 2
    assert Conversation.objects.get().assignee.username == "ana"
    assert sent_texts(fake_provider)[-1] == "Hi Tom, we are closed. We open Friday 09:00 (Europe/Berlin)."


def test_open_hours_assign_and_send_no_out_of_office_reply(
    ooo_rules: None,
    office_team: Team,
    make_agent: Callable[..., AgentProfile],
    tom: TelegramCustomer,
    tasks: Any,
    fake_provider: Any,
) -> None:
    make_agent("ana", team=office_team)
    tom.writes("Good morning")
    route_at(THU_MORNING, tasks)
    tasks.run()
    assert sent_texts(fake_provider) == []
    assert Conversation.objects.get().assignee.username == "ana"
    assert not QueueEntry.objects.exists()
