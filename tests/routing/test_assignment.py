"""Assignment: strategies, capacity (overall and per channel kind), the queue, draining, releasing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Contact
from routing.models import AgentProfile, QueueEntry, Team
from routing.models.teams import Strategy
from routing.services.agents import agent_set_availability
from routing.services.assignment import (
    agent_loads,
    agent_pick,
    conversation_assign_agent,
    conversation_route_to_team,
    team_queue_drain,
)
from social.models import Channel, Conversation
from social.services.conversations import conversation_set_status

pytestmark = pytest.mark.django_db


def route(conversation: Conversation, team: Team, strategy: str | None = None) -> Any:
    return conversation_route_to_team(conversation=conversation, team=team, strategy=strategy)


def test_least_loaded_compares_open_conversations_to_capacity(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    ana = make_agent("ana", team=support, capacity=10)
    ben = make_agent("ben", team=support, capacity=2)
    for _ in range(3):
        make_conversation(whatsapp, assignee=ana.user)  # 3/10
    make_conversation(whatsapp, assignee=ben.user)  # 1/2
    make_conversation(whatsapp, assignee=ben.user, status=Conversation.Status.RESOLVED)  # does not count
    outcome = route(make_conversation(whatsapp), support, Strategy.LEAST_LOADED)
    assert outcome.agent == ana
    assert outcome.reason == "least loaded: 3/10 open"
    assert outcome.conversation.assignee == ana.user and outcome.conversation.team == "Support"


def test_round_robin_takes_turns(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    agents = [make_agent(name, team=support, capacity=10) for name in ("ana", "ben", "cem")]
    chosen = [route(make_conversation(whatsapp), support, Strategy.ROUND_ROBIN).agent for _ in range(6)]
    assert chosen == agents + agents


def test_skills_and_language_match(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    make_agent("ana", team=support, skills=["billing"], languages=["en"])
    bea = make_agent("bea", team=support, skills=["returns"], languages=["es"])
    cid = make_agent("cid", team=support, skills=["billing"], languages=["es"])
    contact = Contact.objects.create(first_name="Lucía", last_name="Gómez", preferred_language="es")
    outcome = route(make_conversation(whatsapp, contact, labels=["billing"]), support, Strategy.SKILLS)
    assert outcome.agent == cid
    assert outcome.reason == "skills match: 1/1 (billing); language es: yes; 0/5 open"
    other = Contact.objects.create(first_name="Ana", last_name="Ruiz", preferred_language="es")
    assert route(make_conversation(whatsapp, other, labels=["returns"]), support, Strategy.SKILLS).agent == bea


def test_skills_is_a_best_match_nobody_waits_while_someone_has_room(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    ana = make_agent("ana", team=support, languages=["en"])
    contact = Contact.objects.create(first_name="Jan", last_name="Novák", preferred_language="cs")
    outcome = route(make_conversation(whatsapp, contact), support, Strategy.SKILLS)
    assert outcome.agent == ana and "language cs: no" in outcome.reason


def test_sticky_prefers_the_agent_who_served_the_contact_last(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    email_channel: Channel,
) -> None:
    make_agent("ana", team=support)
    ben = make_agent("ben", team=support)
    contact = Contact.objects.create(first_name="Eva", last_name="Berg")
    for _ in range(2):  # ben is busier, but served Eva last
        make_conversation(whatsapp, assignee=ben.user)
    make_conversation(email_channel, contact, assignee=ben.user, status=Conversation.Status.RESOLVED)
    outcome = route(make_conversation(whatsapp, contact), support, Strategy.STICKY)
    assert outcome.agent == ben and outcome.reason.startswith("sticky: served this contact last")


def test_sticky_falls_back_to_least_loaded_when_that_agent_is_away(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    email_channel: Channel,
) -> None:
    ana = make_agent("ana", team=support)
    ben = make_agent("ben", team=support, availability=AgentProfile.Availability.AWAY)
    contact = Contact.objects.create(first_name="Eva", last_name="Berg")
    make_conversation(email_channel, contact, assignee=ben.user, status=Conversation.Status.RESOLVED)
    outcome = route(make_conversation(whatsapp, contact), support, Strategy.STICKY)
    assert outcome.agent == ana
    assert outcome.reason == "sticky: the last agent is not available or full; least loaded: 0/5 open"


def test_nobody_with_room_queues_and_draining_goes_oldest_first(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    ana = make_agent("ana", team=support, capacity=1)
    first = route(make_conversation(whatsapp), support)
    assert first.agent == ana
    waiting = [route(make_conversation(whatsapp), support) for _ in range(3)]
    assert all(o.queued and o.agent is None for o in waiting)
    assert waiting[0].reason == "queued: no online agent of the team has room"
    assert list(QueueEntry.objects.values_list("conversation_id", flat=True)) == [o.conversation.pk for o in waiting]
    # Ana resolves her conversation: one place frees up and the oldest waiting conversation gets it.
    conversation_set_status(conversation=first.conversation, status=Conversation.Status.RESOLVED)
    assert team_queue_drain(team=support) == 1
    assert Conversation.objects.get(pk=waiting[0].conversation.pk).assignee == ana.user
    assert QueueEntry.objects.count() == 2
    assert agent_loads([ana.user_id])[ana.user_id].total == 1  # never above capacity


def test_a_newcomer_does_not_overtake_waiting_conversations(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    tasks: Any,
) -> None:
    ana = make_agent("ana", team=support, capacity=1)
    served = route(make_conversation(whatsapp), support).conversation
    oldest = route(make_conversation(whatsapp), support).conversation
    # A place frees up; before the drain runs, a new conversation arrives: it queues behind.
    Conversation.objects.filter(pk=served.pk).update(status=Conversation.Status.RESOLVED)
    newcomer = route(make_conversation(whatsapp), support)
    assert newcomer.queued and newcomer.behind == 1
    tasks.commit()  # the drain that follows the commit serves the oldest
    assert Conversation.objects.get(pk=oldest.pk).assignee == ana.user
    assert QueueEntry.objects.get().conversation == newcomer.conversation


def test_capacity_per_channel_kind(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    email_channel: Channel,
    tasks: Any,
) -> None:
    ana = make_agent("ana", team=support, capacity=5, channel_capacity={"whatsapp": 1})
    assert route(make_conversation(whatsapp), support).agent == ana
    blocked = route(make_conversation(whatsapp), support)
    assert blocked.queued and blocked.reason == "queued: no online agent has room for WhatsApp Cloud API"
    assert not blocked.team_full
    # E-mail is only limited overall, and a WhatsApp backlog does not block it: it queues behind the older
    # WhatsApp conversation (oldest first), and the drain that follows the commit skips the one that fits
    # nobody and assigns it.
    email = route(make_conversation(email_channel), support)
    assert email.queued and email.behind == 1
    assert email.reason == "queued behind 1 older conversation(s); the queue is served oldest first"
    tasks.commit()
    assert Conversation.objects.get(pk=email.conversation.pk).assignee == ana.user
    assert QueueEntry.objects.get().conversation == blocked.conversation


def test_away_and_offline_agents_get_nothing(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    make_agent("ana", team=support, availability=AgentProfile.Availability.AWAY)
    make_agent("ben", team=support, availability=AgentProfile.Availability.OFFLINE)
    make_agent("cem", team=support, capacity=0)
    conversation = make_conversation(whatsapp)
    assert agent_pick(team=support, conversation=conversation, strategy=Strategy.ROUND_ROBIN) is None
    assert route(conversation, support).queued


def test_named_agent_only_with_room_and_only_a_member(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    ana = make_agent("ana", team=support, capacity=1)
    outsider = make_agent("olga")
    outcome = conversation_assign_agent(conversation=make_conversation(whatsapp), team=support, agent=ana)
    assert outcome.agent == ana and outcome.reason == "named agent; ana has room"
    full = conversation_assign_agent(conversation=make_conversation(whatsapp), team=support, agent=ana)
    assert full.queued and full.reason == "queued: ana is not online or has no room"
    with pytest.raises(ValidationError, match="not a member"):
        conversation_assign_agent(conversation=make_conversation(whatsapp), team=support, agent=outsider)
    with pytest.raises(ValidationError, match="not an assignment strategy"):
        route(make_conversation(whatsapp), support, "random")


def test_moving_to_another_team_keeps_the_waiting_time(
    support: Team, make_conversation: Callable[..., Conversation], whatsapp: Channel
) -> None:
    sales = Team.objects.create(name="Sales")
    conversation = make_conversation(whatsapp)
    route(conversation, support)
    since = QueueEntry.objects.get().queued_at
    route(conversation, sales)
    entry = QueueEntry.objects.get()
    assert entry.team == sales and entry.queued_at == since
    assert Conversation.objects.get(pk=conversation.pk).team == "Sales"


def test_resolved_conversation_is_not_routed_and_leaves_the_queue(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
) -> None:
    conversation = make_conversation(whatsapp)
    route(conversation, support)
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.RESOLVED)
    make_agent("ana", team=support)
    assert team_queue_drain(team=support) == 0
    assert not QueueEntry.objects.exists()
    assert Conversation.objects.get(pk=conversation.pk).assignee is None


def test_coming_online_drains_the_queue(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    tasks: Any,
    sam: Any,
) -> None:
    ana = make_agent("ana", team=support, availability=AgentProfile.Availability.OFFLINE, capacity=2)
    waiting = [route(make_conversation(whatsapp), support).conversation for _ in range(3)]
    agent = agent_set_availability(agent=ana, availability=AgentProfile.Availability.ONLINE, actor=sam)
    assert agent.availability == "online" and agent.availability_changed_at is not None
    assert tasks.run() == [2]
    assert [c.assignee_id for c in Conversation.objects.filter(pk__in=[w.pk for w in waiting]).order_by("pk")] == [
        ana.user_id,
        ana.user_id,
        None,
    ]


def test_resolving_frees_a_place_and_drains_after_commit(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    tasks: Any,
) -> None:
    ana = make_agent("ana", team=support, capacity=1)
    served = route(make_conversation(whatsapp), support).conversation
    waiting = route(make_conversation(whatsapp), support).conversation
    conversation_set_status(conversation=served, status=Conversation.Status.RESOLVED)
    assert tasks.queued == []  # not before commit
    tasks.run()
    assert Conversation.objects.get(pk=waiting.pk).assignee == ana.user


def test_going_offline_releases_conversations_when_the_team_says_so(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    tasks: Any,
    sam: Any,
) -> None:
    support.release_on_offline = True
    support.save(update_fields=["release_on_offline"])
    ana = make_agent("ana", team=support, capacity=5)
    ben = make_agent("ben", team=support, capacity=1, availability=AgentProfile.Availability.OFFLINE)
    mine = [route(make_conversation(whatsapp), support).conversation for _ in range(2)]
    other_team = make_conversation(whatsapp, assignee=ana.user, team="Sales")
    agent_set_availability(agent=ben, availability=AgentProfile.Availability.ONLINE, actor=sam)
    agent_set_availability(agent=ana, availability=AgentProfile.Availability.OFFLINE, actor=sam)
    tasks.run()
    after = {c.pk: c.assignee_id for c in Conversation.objects.filter(pk__in=[m.pk for m in mine])}
    assert sorted(after.values(), key=str) == sorted([ben.user_id, None], key=str)  # ben had room for one
    assert QueueEntry.objects.count() == 1
    assert Conversation.objects.get(pk=other_team.pk).assignee == ana.user  # another team's: kept


def test_going_offline_keeps_conversations_by_default(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    tasks: Any,
    sam: Any,
) -> None:
    ana = make_agent("ana", team=support)
    conversation = route(make_conversation(whatsapp), support).conversation
    agent_set_availability(agent=ana, availability=AgentProfile.Availability.OFFLINE, actor=sam)
    tasks.run()
    assert Conversation.objects.get(pk=conversation.pk).assignee == ana.user


def test_availability_must_be_known(make_agent: Callable[..., AgentProfile], sam: Any) -> None:
    ana = make_agent("ana")
    with pytest.raises(ValidationError, match="not one of"):
        agent_set_availability(agent=ana, availability="busy", actor=sam)


def test_loads_are_counted_in_one_query(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    django_assert_max_num_queries: Any,
) -> None:
    agents = [make_agent(f"agent{i}", team=support, capacity=50) for i in range(8)]
    for agent in agents:
        for _ in range(3):
            make_conversation(whatsapp, assignee=agent.user)
    with django_assert_max_num_queries(1):
        loads = agent_loads([a.user_id for a in agents])
    assert {load.total for load in loads.values()} == {3}
    # Routing to a team of 8 costs as many statements as routing to a team of 1: nothing per member.
    solo = Team.objects.create(name="Solo")
    make_agent("solo", team=solo)
    counts = []
    for team in (solo, support):
        with CaptureQueriesContext(connection) as queries:
            assert route(make_conversation(whatsapp), team).agent is not None
        counts.append(len(queries))
    assert counts[0] == counts[1]
