"""Routing runs: one per inbound message (idempotent), the events fired, the compiled-rules cache, queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from routing.engine.ruleset import ruleset
from routing.models import RoutingRun, Rule
from routing.services.rules import message_route, rules_run
from social.models import Conversation, Message
from social.services.conversations import conversation_set_status
from tests.routing.conftest import TelegramCustomer, sent_texts

pytestmark = pytest.mark.django_db


def test_running_the_routing_task_twice_replies_once(
    make_rule: Callable[..., Rule], tom: TelegramCustomer, tasks: Any, fake_provider: Any
) -> None:
    make_rule("Ack", actions=[{"type": "reply", "template": "Got it, {contact.first_name}."}])
    tom.writes("hello")
    tasks.commit()
    tasks.run()
    message = Message.objects.get(direction="in")
    assert message_route(message_id=message.pk) is None  # the task again (a retry, a second worker)
    from routing.tasks import route_message, route_messages

    assert route_message(message.pk) is None
    assert route_messages(message.pk) == 0
    tasks.run()
    assert sent_texts(fake_provider) == ["Got it, Tom."]
    assert RoutingRun.objects.filter(message=message).count() == 1


def test_one_routing_task_per_stored_batch(tom: TelegramCustomer, tasks: Any) -> None:
    tom.writes("hello")
    tom.writes("is anyone there?")
    tasks.commit()
    assert [func for func, _args in tasks.queued] == ["social.tasks.drain_inbound_events"]  # one drain for both
    tasks.run(limit=1)  # the drain stores both messages, and one routing task follows, in their order
    messages = list(Message.objects.order_by("pk").values_list("pk", flat=True))
    assert len(messages) == 2
    assert tasks.queued == [("routing.tasks.route_messages", tuple(messages))]


def test_created_reopened_and_received_events(
    make_rule: Callable[..., Rule], tom: TelegramCustomer, tasks: Any
) -> None:
    for trigger in ("conversation_created", "conversation_reopened", "message_received"):
        make_rule(trigger, trigger=trigger, actions=[{"type": "add_labels", "labels": [trigger]}])
    tom.writes("first")
    tasks.run()
    tom.writes("second")
    tasks.run()
    conversation = Conversation.objects.get()
    conversation_set_status(conversation=conversation, status="resolved")
    tom.writes("third, after the resolution")
    tasks.run()
    runs = list(RoutingRun.objects.order_by("pk").values_list("events", flat=True))
    assert runs == [
        ["conversation_created", "message_received"],
        ["message_received"],
        ["conversation_reopened", "message_received"],
    ]
    assert sorted(Conversation.objects.get().labels) == [
        "conversation_created",
        "conversation_reopened",
        "message_received",
    ]


def test_rules_run_for_other_events_with_a_key_runs_once(
    make_rule: Callable[..., Rule], make_conversation: Callable[..., Conversation], whatsapp: Any
) -> None:
    make_rule("Escalate", trigger="sla_breached", actions=[{"type": "set_priority", "priority": "urgent"}])
    conversation = make_conversation(whatsapp)
    run = rules_run(event="sla_breached", conversation_id=conversation.pk, key=f"sla_breached:{conversation.pk}:1")
    assert run is not None and run.rules_matched == 1
    assert (
        rules_run(event="sla_breached", conversation_id=conversation.pk, key=f"sla_breached:{conversation.pk}:1")
        is None
    )
    conversation.refresh_from_db()
    assert conversation.priority == 3
    with pytest.raises(ValueError, match="not a rule trigger"):
        rules_run(event="sla_exploded", conversation_id=conversation.pk)


def test_rules_compile_once_and_recompile_after_a_change(
    make_rule: Callable[..., Rule], make_conversation: Callable[..., Conversation], whatsapp: Any
) -> None:
    rule = make_rule("Label", actions=[{"type": "add_labels", "labels": ["a"]}])
    first = ruleset()
    assert ruleset() is first  # unchanged: the cached closures
    rule.actions = [{"type": "add_labels", "labels": ["b"]}]
    rule.save()
    second = ruleset()
    assert second is not first and second.rules_for("message_received")[0].actions[0]["labels"] == ["b"]
    rule.delete()
    assert ruleset().rules_for("message_received") == ()


def test_the_number_of_queries_does_not_grow_with_the_rules(
    make_rule: Callable[..., Rule], tom: TelegramCustomer, tasks: Any
) -> None:
    def queries_for_one_message(text: str) -> int:
        tom.writes(text)
        tasks.run(limit=1)
        tasks.commit()
        (_func, (message_id,)) = tasks.queued.pop(0)
        ruleset()  # compiled outside the measurement
        with CaptureQueriesContext(connection) as captured:
            message_route(message_id=message_id)
        return len(captured.captured_queries)

    no_match = {"match": "all", "conditions": [{"field": "contact_tags", "op": "has_any", "value": ["x"]}]}
    make_rule("No match", conditions=no_match, actions=[{"type": "add_labels", "labels": ["x"]}])
    few = queries_for_one_message("one")
    for n in range(30):
        make_rule(
            f"No match {n}",
            conditions={"match": "all", "conditions": [
                {"field": "contact_tags", "op": "has_any", "value": [f"t{n}"]},
                {"field": "rfm_segment", "op": "in", "value": ["champions"]},
                {"field": "attribute", "op": "is", "key": "plan", "value": "gold"},
                {"field": "message_count", "op": "gt", "value": 1000},
            ]},
            actions=[{"type": "add_labels", "labels": ["x"]}],
        )  # fmt: skip
    assert queries_for_one_message("two") == few


def test_idle_rules_fire_once_per_idle_stretch(
    make_rule: Callable[..., Rule], make_conversation: Callable[..., Conversation], whatsapp: Any
) -> None:
    import datetime as dt

    from routing.services.rules import idle_rules_fire

    make_rule(
        "Nobody answered for 30 minutes",
        trigger="conversation_idle",
        idle_minutes=30,
        idle_waiting_for="agent",
        actions=[{"type": "add_labels", "labels": ["waiting"]}],
    )
    make_rule(
        "Customer went quiet",
        trigger="conversation_idle",
        idle_minutes=60,
        idle_waiting_for="customer",
        actions=[{"type": "set_status", "status": "pending"}],
    )
    t0 = dt.datetime(2026, 6, 10, 9, 0, tzinfo=dt.UTC)
    conversation = make_conversation(whatsapp, last_inbound_at=t0, last_message_at=t0)
    Message.objects.create(conversation=conversation, channel=whatsapp, direction="in", sender_type="contact", text="?")
    assert idle_rules_fire(now=t0 + dt.timedelta(minutes=20)) == 0
    assert idle_rules_fire(now=t0 + dt.timedelta(minutes=31)) == 1
    assert idle_rules_fire(now=t0 + dt.timedelta(minutes=45)) == 0  # the same stretch: once
    conversation.refresh_from_db()
    assert conversation.labels == ["waiting"] and conversation.status == "open"

    # An agent answers at 09:50: nobody waits for an agent any more; an hour later the customer rule fires.
    reply = Message.objects.create(
        conversation=conversation, channel=whatsapp, direction="out", sender_type="staff", text="Here!"
    )
    Message.objects.filter(pk=reply.pk).update(created_at=t0 + dt.timedelta(minutes=50))
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=t0 + dt.timedelta(minutes=50))
    assert idle_rules_fire(now=t0 + dt.timedelta(minutes=100)) == 0
    assert idle_rules_fire(now=t0 + dt.timedelta(minutes=111)) == 1
    conversation.refresh_from_db()
    assert conversation.status == "pending"
    run = RoutingRun.objects.filter(events=["conversation_idle"]).order_by("pk").last()
    assert run is not None and [r["name"] for r in run.trace["events"][0]["rules"]] == ["Customer went quiet"]
