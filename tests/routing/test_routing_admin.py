"""Teams, agents and business hours in the admin: validation messages, availability, roles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django_q.models import Schedule

from crm.models import User
from routing.hours import is_open
from routing.models import AgentProfile, BusinessHours, OpeningPeriod, QueueEntry, Team, TeamMembership
from routing.services.assignment import conversation_route_to_team
from routing.services.hours import team_calendar
from routing.tasks import drain_queues
from social.models import Channel, Conversation
from tests.admin_forms import errors_of, form_data, listed
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

AGENT_ADD = "/admin/routing/agentprofile/add/"
TEAM_ADD = "/admin/routing/team/add/"
HOURS_ADD = "/admin/routing/businesshours/add/"


def agent_form(client: Client, user: User, **values: Any) -> dict[str, Any]:
    data = form_data(client, AGENT_ADD)
    data.update(user=str(user.pk), availability="offline", capacity="4", channel_capacity="{}", skills="", languages="")
    data.update(values)
    return data


def test_agent_profile_validation_messages(ada: User, login: Callable[[User], Client]) -> None:
    client = login(ada)
    luis = make_staff("luis", None)
    response = client.post(
        AGENT_ADD,
        agent_form(client, luis, channel_capacity='{"fax": 2, "whatsapp": -1}', languages="en, klingon"),
    )
    assert response.status_code == 200
    errors = errors_of(response)
    assert "“fax” is not a channel kind" in errors
    assert "The limit for whatsapp must be a whole number from 0, not -1." in errors
    assert "Unknown language code(s): klingon" in errors
    assert not AgentProfile.objects.exists()

    response = client.post(AGENT_ADD, agent_form(client, luis, channel_capacity="[1, 2]"))
    assert "Enter an object such as" in errors_of(response)


def test_agent_profile_saved_normalised(ada: User, login: Callable[[User], Client]) -> None:
    client = login(ada)
    luis = make_staff("luis", None)
    response = client.post(
        AGENT_ADD,
        agent_form(
            client, luis, channel_capacity='{"whatsapp": 2}', skills="Billing, billing , VIP", languages="ES, pt-br"
        ),
    )
    assert response.status_code == 302, errors_of(response)
    agent = AgentProfile.objects.get()
    assert (agent.skills, agent.languages, agent.channel_capacity) == (
        ["billing", "vip"],
        ["es", "pt-br"],
        {"whatsapp": 2},
    )
    assert agent.availability == "offline"
    page = client.get(f"/admin/routing/agentprofile/{agent.pk}/change/").content.decode()
    assert 'value="billing, vip"' in page


def test_non_staff_users_cannot_be_agents(ada: User, login: Callable[[User], Client]) -> None:
    client = login(ada)
    customer = User.objects.create_user(username="customer", password="x")
    response = client.post(AGENT_ADD, agent_form(client, customer))
    assert response.status_code == 200 and "Select a valid choice" in errors_of(response)


def test_availability_set_in_the_admin_drains_the_queue(
    maria: User,
    login: Callable[[User], Client],
    make_agent: Callable[..., AgentProfile],
    support: Team,
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    tasks: Any,
) -> None:
    ana = make_agent("ana", team=support, availability=AgentProfile.Availability.OFFLINE)
    waiting = conversation_route_to_team(conversation=make_conversation(whatsapp), team=support).conversation
    client = login(maria)
    url = f"/admin/routing/agentprofile/{ana.pk}/change/"
    data = form_data(client, url)
    data["availability"] = "online"
    response = client.post(url, data)
    assert response.status_code == 302, errors_of(response)
    tasks.run()
    ana.refresh_from_db()
    assert ana.availability == "online" and ana.availability_changed_at is not None
    assert Conversation.objects.get(pk=waiting.pk).assignee == ana.user
    # The list action does the same for several agents at once.
    response = client.post(
        "/admin/routing/agentprofile/", {"action": "make_away", "_selected_action": [str(ana.pk)]}, follow=True
    )
    assert "1 agent(s) set away." in response.content.decode()
    assert AgentProfile.objects.get(pk=ana.pk).availability == "away"
    # Who changed it and when is on the profile's history.
    history = client.get(f"/admin/routing/agentprofile/{ana.pk}/history/").content.decode()
    assert "maria" in history and "online" in history and "away" in history


def test_agents_view_routing_but_do_not_change_it(
    sam: User, rita: User, login: Callable[[User], Client], support: Team
) -> None:
    for user in (sam, rita):
        client = login(user)
        assert client.get("/admin/routing/team/").status_code == 200
        assert client.get(TEAM_ADD).status_code == 403
        assert client.get(f"/admin/routing/businesshours/{0}/import-holidays/").status_code in {403, 404}


def test_team_with_members_and_rename_guard(
    maria: User,
    login: Callable[[User], Client],
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    ana = make_agent("ana")
    client = login(maria)
    data = form_data(client, TEAM_ADD)
    data.update(
        {"name": "Billing", "strategy": "round_robin", "release_on_offline": "on", "memberships-0-agent": str(ana.pk)}
    )
    response = client.post(TEAM_ADD, data)
    assert response.status_code == 302, errors_of(response)
    team = Team.objects.get()
    assert team.release_on_offline and list(team.members.all()) == [ana]
    assert [(t.name, t.member_total, t.waiting_total) for t in listed(client, "/admin/routing/team/")] == [
        ("Billing", 1, 0)
    ]

    make_conversation(whatsapp, team="Billing")
    url = f"/admin/routing/team/{team.pk}/change/"
    data = form_data(client, url)
    data["name"] = "Payments"
    response = client.post(url, data)
    assert response.status_code == 200
    assert "0 channel(s) and 1 conversation(s) use the name “Billing”" in errors_of(response)
    assert Team.objects.get().name == "Billing"


def test_team_drain_action(
    maria: User,
    login: Callable[[User], Client],
    make_agent: Callable[..., AgentProfile],
    support: Team,
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    conversation_route_to_team(conversation=make_conversation(whatsapp), team=support)
    make_agent("ana", team=support)
    response = login(maria).post(
        "/admin/routing/team/", {"action": "drain_queue", "_selected_action": [str(support.pk)]}, follow=True
    )
    assert "Support: 1 assigned, 0 still waiting." in response.content.decode()
    assert not QueueEntry.objects.exists()
    assert TeamMembership.objects.get().last_assigned_at is not None


def hours_form(client: Client, **values: Any) -> dict[str, Any]:
    data = form_data(client, HOURS_ADD)
    data.update(name="Berlin office", timezone="Europe/Berlin")
    data.update(values)
    return data


def periods(*rows: tuple[int, str, str]) -> dict[str, str]:
    data = {"periods-TOTAL_FORMS": str(len(rows))}
    for i, (day, start, end) in enumerate(rows):
        data.update({f"periods-{i}-weekday": str(day), f"periods-{i}-start": start, f"periods-{i}-end": end})
    return data


def test_business_hours_validation(ada: User, login: Callable[[User], Client]) -> None:
    client = login(ada)
    response = client.post(HOURS_ADD, hours_form(client, timezone="Europe/Atlantis"))
    assert "“Europe/Atlantis” is not a known time zone" in errors_of(response)

    response = client.post(HOURS_ADD, hours_form(client, **periods((0, "09:00", "12:00"), (0, "11:00", "17:00"))))
    assert "Monday: 09:00–12:00 overlaps 11:00–17:00." in errors_of(response)

    response = client.post(HOURS_ADD, hours_form(client, **periods((4, "22:00", "06:00"))))
    assert "the end must be after the start" in errors_of(response)
    assert not BusinessHours.objects.exists()

    response = client.post(
        HOURS_ADD,
        hours_form(
            client, is_default="on", **periods((0, "09:00", "12:00"), (0, "13:00", "17:00"), (1, "22:00", "00:00"))
        ),
    )
    assert response.status_code == 302, errors_of(response)
    assert OpeningPeriod.objects.count() == 3

    response = client.post(HOURS_ADD, hours_form(client, name="Lisbon", timezone="Europe/Lisbon", is_default="on"))
    assert "Another set of business hours is already the default" in errors_of(response)


def test_business_hours_list_says_if_open(ada: User, login: Callable[[User], Client]) -> None:
    always = BusinessHours.objects.create(name="Always", timezone="UTC")
    for day in range(7):
        OpeningPeriod.objects.create(business_hours=always, weekday=day, start=dt.time(0), end=dt.time(0))
    BusinessHours.objects.create(name="Never", timezone="UTC")
    page = login(ada).get("/admin/routing/businesshours/").content.decode()
    # Columns "default" and "open now": Always is open (one True), the rest False; Never never opens.
    assert page.count('alt="True"') == 1 and page.count('alt="False"') == 3
    assert '<td class="field-opens">never</td>' in page


def test_team_hours_fall_back_to_the_default_and_then_to_always_open(support: Team) -> None:
    monday_10_utc = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
    assert is_open(team_calendar(support), monday_10_utc)  # nothing set up: never holds a conversation back
    default = BusinessHours.objects.create(name="Default", timezone="America/New_York", is_default=True)
    OpeningPeriod.objects.create(business_hours=default, weekday=0, start=dt.time(9), end=dt.time(17))
    assert not is_open(team_calendar(support), monday_10_utc)  # 05:00 in New York
    assert is_open(team_calendar(support), monday_10_utc + dt.timedelta(hours=4))
    own = BusinessHours.objects.create(name="Night", timezone="UTC")
    OpeningPeriod.objects.create(business_hours=own, weekday=0, start=dt.time(0), end=dt.time(12))
    support.business_hours = own
    support.save(update_fields=["business_hours"])
    assert is_open(team_calendar(support), monday_10_utc)


def test_the_scheduled_sweep_drains_every_queue(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    assert Schedule.objects.filter(func="routing.tasks.drain_queues", minutes=1).exists()
    sales = Team.objects.create(name="Sales")
    for team in (support, sales):
        conversation_route_to_team(conversation=make_conversation(whatsapp), team=team)
    make_agent("ana", team=support)
    make_agent("ben", team=sales)
    assert drain_queues() == 2
    assert not QueueEntry.objects.exists()
