"""Routing the messages one drain stored together in one transaction (``routing.services.routing_batch``):
each message is routed as it would be alone, later messages see what the earlier ones' rules did, the cost
does not grow per message, and a batch that fails is routed one message at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from routing.engine.ruleset import ruleset
from routing.models import AgentProfile, RoutingRun, Rule, Team
from routing.tasks import route_messages
from social.models import Channel, Conversation, Message
from tests.routing.conftest import TelegramCustomer, sent_texts

pytestmark = pytest.mark.django_db


def contains(*words: str) -> dict[str, Any]:
    return {"match": "all", "conditions": [{"field": "text", "op": "contains_any", "value": list(words)}]}


@pytest.fixture
def rules(make_rule: Callable[..., Rule], support: Team) -> None:
    make_rule(
        "Welcome",
        trigger="conversation_created",
        actions=[
            {"type": "assign_team", "team": support.pk},
            {"type": "reply", "template": "Hi {contact.first_name}, {agent.name} will answer."},
        ],
    )
    make_rule("Billing", conditions=contains("invoice"), actions=[{"type": "add_labels", "labels": ["billing"]}])
    make_rule(
        "Billing follow-up",
        conditions={"match": "all", "conditions": [
            {"field": "labels", "op": "has_any", "value": ["billing"]},
            {"field": "message_count", "op": "gt", "value": 1},
        ]},
        actions=[
            {"type": "set_priority", "priority": "high"},
            {"type": "reply", "template": "{agent.name} has your invoice question."},
        ],
    )  # fmt: skip


@pytest.fixture
def new_conversations_to_support(make_rule: Callable[..., Rule], support: Team) -> Team:
    """A rule that hands every new conversation to Support."""
    make_rule("Welcome", trigger="conversation_created", actions=[{"type": "assign_team", "team": support.pk}])
    return support


def stored_batch(tasks: Any) -> tuple[int, ...]:
    """Drain the pending webhooks (one drain stores them all) and return the routing task's message ids."""
    tasks.commit()
    tasks.run(limit=1)
    ((func, ids),) = tasks.queued
    assert func == "routing.tasks.route_messages"
    tasks.queued.clear()
    return ids


@pytest.mark.parametrize(
    "per_transaction",
    [(50, 15), (2, 1)],
    ids=["one transaction", "a transaction per message or per action"],
)
def test_a_batch_routes_each_message_as_alone_and_later_ones_see_earlier_effects(
    per_transaction: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
    rules: None,
    telegram: Channel,
    make_agent: Callable[..., AgentProfile],
    support: Team,
    tasks: Any,
    fake_provider: Any,
) -> None:
    make_agent("alice", team=support, capacity=5)
    make_agent("bob", team=support, capacity=5)
    tom, ann = TelegramCustomer(telegram), TelegramCustomer(telegram, user_id=5151, first_name="Ann")
    tom.writes("where is my invoice?")
    ann.writes("hello")
    tom.writes("any news?")
    ids = stored_batch(tasks)
    assert len(ids) == 3
    monkeypatch.setattr("routing.services.routing_batch.MESSAGES_PER_TRANSACTION", per_transaction[0])
    monkeypatch.setattr("routing.services.routing_batch.ACTIONS_PER_TRANSACTION", per_transaction[1])

    assert route_messages(*ids) == 3
    tasks.run()

    runs = {run.message.text: run for run in RoutingRun.objects.select_related("message")}
    assert runs["where is my invoice?"].events == ["conversation_created", "message_received"]
    assert runs["hello"].events == ["conversation_created", "message_received"]
    assert runs["any news?"].events == ["message_received"]
    # The follow-up rule saw the label the first message's rule set, and the message's place (2).
    assert runs["any news?"].trace["context"]["labels"] == ["billing"]
    assert runs["any news?"].trace["context"]["message_count"] == 2
    toms = Conversation.objects.get(contact__first_name="Tom")
    anns = Conversation.objects.get(contact__first_name="Ann")
    assert (toms.labels, toms.priority, toms.team) == (["billing"], 2, "Support")
    assert (anns.labels, anns.priority, anns.team) == ([], 1, "Support")
    # Least loaded: Tom's went to alice, so Ann's went to bob; the second reply names Tom's agent.
    assert (toms.assignee.username, anns.assignee.username) == ("alice", "bob")
    assert sorted(sent_texts(fake_provider)) == sorted(
        ["Hi Tom, alice will answer.", "Hi Ann, bob will answer.", "alice has your invoice question."]
    )
    assert all(run.actions_failed == 0 for run in runs.values())


def test_a_batch_routed_again_routes_nothing(rules: None, tom: TelegramCustomer, support: Team, tasks: Any) -> None:
    tom.writes("hello")
    tom.writes("thanks")
    ids = stored_batch(tasks)
    assert route_messages(*ids) == 2
    assert route_messages(*ids) == 0  # the task again: a retry, or a second worker
    tasks.commit()
    assert RoutingRun.objects.count() == 2
    assert Message.objects.filter(direction="out").count() == 1  # one welcome, once


def test_the_queries_of_a_batch_do_not_grow_with_its_messages(
    make_rule: Callable[..., Rule], telegram: Channel, tasks: Any
) -> None:
    no_match = {"match": "all", "conditions": [{"field": "contact_tags", "op": "has_any", "value": ["vip"]}]}
    make_rule("VIP", conditions=no_match, actions=[{"type": "add_labels", "labels": ["vip"]}])

    def queries_for(customers: list[TelegramCustomer], each: int) -> int:
        for _ in range(each):
            for customer in customers:
                customer.writes("hello")
        ids = stored_batch(tasks)
        assert len(ids) == len(customers) * each
        ruleset()  # compiled outside the measurement
        with CaptureQueriesContext(connection) as captured:
            assert route_messages(*ids) == len(ids)
        return len(captured.captured_queries)

    few = queries_for([TelegramCustomer(telegram, user_id=1)], 1)
    many = queries_for([TelegramCustomer(telegram, user_id=n) for n in range(2, 8)], 3)
    assert many == few


def test_a_failing_batch_is_routed_one_message_at_a_time(
    rules: None,
    telegram: Channel,
    make_agent: Callable[..., AgentProfile],
    support: Team,
    tasks: Any,
    fake_provider: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_agent("alice", team=support, capacity=5)
    tom, ann = TelegramCustomer(telegram), TelegramCustomer(telegram, user_id=5151, first_name="Ann")
    tom.writes("where is my invoice?")
    ann.writes("hello")
    ids = stored_batch(tasks)

    def connection_lost(*_args: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    # The traces' write fails after every rule ran: the batch's replies and assignments are rolled back with it.
    monkeypatch.setattr("routing.services.routing_batch.update_rows", connection_lost)
    assert route_messages(*ids) == 2
    tasks.run()

    assert "routing them one by one" in caplog.text
    assert RoutingRun.objects.count() == 2
    assert Conversation.objects.filter(assignee__username="alice").count() == 2
    assert sorted(sent_texts(fake_provider)) == ["Hi Ann, alice will answer.", "Hi Tom, alice will answer."]


def test_one_transaction_never_assigns_an_agent_beyond_capacity(
    new_conversations_to_support: Team,
    telegram: Channel,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    support: Team,
    tasks: Any,
) -> None:
    """The batch locks the team's agents once and keeps their loads itself: what was open before counts, and
    so does every assignment the transaction makes."""
    alice = make_agent("alice", team=support, capacity=2)
    make_agent("bob", team=support, capacity=1)
    make_conversation(telegram, assignee=alice.user, team="Support")  # already open with alice
    make_conversation(telegram, assignee=alice.user, team="Support", status="resolved")  # not counted
    customers = [TelegramCustomer(telegram, user_id=100 + n, first_name=f"Buyer{n}") for n in range(5)]
    for customer in customers:
        customer.writes("hello")
    ids = stored_batch(tasks)

    with CaptureQueriesContext(connection) as captured:
        assert route_messages(*ids) == 5
    tasks.commit()

    new = Conversation.objects.filter(contact__first_name__startswith="Buyer")
    assert new.filter(assignee__username="alice").count() == 1  # 1 open before + 1 = her capacity of 2
    assert new.filter(assignee__username="bob").count() == 1
    waiting = new.filter(assignee__isnull=True)
    assert waiting.count() == 3
    assert all(c.queue_entry.team == support for c in waiting)
    # The agents were locked once for the five assignments, not once each.
    profile_locks = [q for q in captured.captured_queries if "routing_agentprofile" in q["sql"] and "FOR" in q["sql"]]
    assert len(profile_locks) == 1 or connection.vendor == "sqlite"


def test_an_action_failing_in_a_batch_takes_its_changes_and_their_audit_entries_with_it(
    make_rule: Callable[..., Rule],
    telegram: Channel,
    make_agent: Callable[..., AgentProfile],
    support: Team,
    tasks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from auditlog.models import LogEntry

    from social.services import conversations

    make_rule(
        "Welcome",
        trigger="conversation_created",
        actions=[{"type": "assign_team", "team": support.pk}, {"type": "set_priority", "priority": "urgent"}],
    )
    make_agent("alice", team=support, capacity=1)
    make_agent("bob", team=support, capacity=1)
    real_update = conversations.conversation_update

    def saves_then_fails(**kwargs: Any) -> Conversation:
        real_update(**kwargs)  # the priority is saved (and its audit entry made) ...
        raise RuntimeError("the provider hung up")  # ... then the action fails: its savepoint rolls back

    monkeypatch.setattr("routing.engine.actions.conversation_update", saves_then_fails)
    quote = 'He said "refund me" \\ now ✓'
    tom, ann = TelegramCustomer(telegram), TelegramCustomer(telegram, user_id=5151, first_name="Ann")
    tom.writes(quote)
    ann.writes("hello")
    TelegramCustomer(telegram, user_id=6161, first_name="Eve").writes("hi")
    ids = stored_batch(tasks)

    assert route_messages(*ids) == 3
    tasks.commit()

    toms = Conversation.objects.get(contact__first_name="Tom")
    assert toms.priority == 1  # normal: the failed action's change is gone
    assert toms.assignee.username == "alice"  # the action before it stands
    updates = LogEntry.objects.get_for_object(toms).filter(action=LogEntry.Action.UPDATE)
    assert [e.changes_dict for e in updates] == [{"assignee": ["None", str(toms.assignee_id)], "team": ["", "Support"]}]
    # Capacity 1 each: Ann's went to bob, and Eve waits.
    assert Conversation.objects.get(contact__first_name="Ann").assignee.username == "bob"
    assert Conversation.objects.get(contact__first_name="Eve").assignee is None
    run = RoutingRun.objects.get(message__text=quote)
    assert run.actions_failed == 1
    assert run.trace["context"]["text"] == quote  # quotes, backslashes and non-ASCII survive the runs' insert
    actions = run.trace["events"][0]["rules"][0]["actions"]
    assert [a["ok"] for a in actions] == [True, False]
    assert "the provider hung up" in actions[1]["error"]


def test_an_assignment_rolled_back_in_a_batch_frees_the_agent_for_the_next_conversation(
    new_conversations_to_support: Team,
    telegram: Channel,
    make_agent: Callable[..., AgentProfile],
    support: Team,
    tasks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An assign action that fails after assigning is rolled back with its savepoint (and with it, maybe, the
    agent locks taken inside): the loads the batch keeps are counted again, so the agent is free again."""
    from routing.engine import actions

    make_agent("alice", team=support, capacity=1)
    real_assign = actions.conversation_assign_agent
    calls = {"n": 0}

    def first_one_fails(**kwargs: Any) -> Any:
        calls["n"] += 1
        outcome = real_assign(**kwargs)
        if calls["n"] == 1:
            raise RuntimeError("disk full")
        return outcome

    monkeypatch.setattr(actions, "conversation_assign_agent", first_one_fails)
    TelegramCustomer(telegram).writes("hello")
    TelegramCustomer(telegram, user_id=5151, first_name="Ann").writes("hello")
    ids = stored_batch(tasks)

    assert route_messages(*ids) == 2
    tasks.commit()

    assert Conversation.objects.get(contact__first_name="Tom").assignee is None
    assert Conversation.objects.get(contact__first_name="Ann").assignee.username == "alice"


def test_an_agent_in_two_teams_is_counted_once_in_a_batch(
    make_rule: Callable[..., Rule],
    telegram: Channel,
    make_agent: Callable[..., AgentProfile],
    support: Team,
    tasks: Any,
) -> None:
    """One count per agent, whichever team assigns: an assignment through Sales counts for Support too."""
    from routing.models import TeamMembership

    sales = Team.objects.create(name="Sales")
    make_rule(
        "Support", trigger="conversation_created", conditions=contains("support"),
        actions=[{"type": "assign_team", "team": support.pk}],
    )  # fmt: skip
    make_rule(
        "Sales", trigger="conversation_created", conditions=contains("sales"),
        actions=[{"type": "assign_team", "team": sales.pk}],
    )  # fmt: skip
    xavier = make_agent("xavier", team=support, capacity=2)
    TeamMembership.objects.create(team=sales, agent=xavier)
    TelegramCustomer(telegram, user_id=1, first_name="Ann").writes("support please")
    TelegramCustomer(telegram, user_id=2, first_name="Bob").writes("sales please")
    TelegramCustomer(telegram, user_id=3, first_name="Cid").writes("support again")

    assert route_messages(*stored_batch(tasks)) == 3
    tasks.commit()

    assert Conversation.objects.filter(assignee=xavier.user).exclude(status="resolved").count() == 2
    assert Conversation.objects.get(contact__first_name="Cid").assignee is None  # waits in Support's queue


def test_a_conversation_reopened_by_a_rule_in_a_batch_counts_for_its_agent_again(
    new_conversations_to_support: Team,
    make_rule: Callable[..., Rule],
    telegram: Channel,
    make_agent: Callable[..., AgentProfile],
    support: Team,
    tasks: Any,
) -> None:
    make_rule("Bye", conditions=contains("bye"), actions=[{"type": "set_status", "status": "resolved"}])
    make_rule("Wait", conditions=contains("wait"), actions=[{"type": "set_status", "status": "open"}])
    xavier = make_agent("xavier", team=support, capacity=2)
    dan = TelegramCustomer(telegram, user_id=1, first_name="Dan")
    dan.writes("hello")
    assert route_messages(*stored_batch(tasks)) == 1
    tasks.commit()
    dan.writes("bye")  # resolved: xavier has room for two
    TelegramCustomer(telegram, user_id=2, first_name="Eve").writes("hello")  # xavier: 1
    dan.writes("wait")  # open again, still xavier's: 2
    TelegramCustomer(telegram, user_id=3, first_name="Fay").writes("hello")  # no room left

    assert route_messages(*stored_batch(tasks)) == 4
    tasks.commit()

    assert Conversation.objects.filter(assignee=xavier.user).exclude(status="resolved").count() == 2
    assert Conversation.objects.get(contact__first_name="Fay").assignee is None
