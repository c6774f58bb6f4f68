"""Rule actions, end to end: a customer writes on Telegram (or a partner's API), the routing task runs the rules."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail

from routing.models import AgentProfile, QueueEntry, RoutingRun, RoutingState, Rule, RuleWebhookCall, SlaPolicy, Team
from social.models import Channel, Conversation, Message
from tests.routing.conftest import TelegramCustomer, sent_texts
from tests.social.conftest import API_SECRET

pytestmark = pytest.mark.django_db


def test_auto_reply_with_variables_is_sent_through_the_channel_as_the_bot(
    make_rule: Callable[..., Rule], tom: TelegramCustomer, tasks: Any, fake_provider: Any, support: Team
) -> None:
    make_rule(
        "Greet",
        trigger="conversation_created",
        actions=[
            {"type": "assign_team", "team": support.pk},
            {
                "type": "reply",
                "template": "Hi {contact.first_name}, {team.name} is on it ({{ticket}} #{conversation.id}).",
            },
        ],
    )
    tom.writes("Hello there")
    tasks.run()
    conversation = Conversation.objects.get()
    reply = Message.objects.get(direction="out")
    assert reply.sender_type == "system" and reply.sender_user is None and reply.status == "sent"
    assert sent_texts(fake_provider) == [f"Hi Tom, Support is on it ({{ticket}} #{conversation.pk})."]
    # A second message is not "conversation created": no second greeting.
    tom.writes("Anyone?")
    tasks.run()
    assert len(sent_texts(fake_provider)) == 1


def test_assignment_by_strategy_records_the_chosen_agent_and_why(
    make_rule: Callable[..., Rule],
    make_agent: Callable[..., AgentProfile],
    tom: TelegramCustomer,
    tasks: Any,
    support: Team,
) -> None:
    make_agent("ana", team=support, capacity=5, languages=["en"])
    make_agent("bea", team=support, capacity=5, languages=["es"], skills=["billing"])
    make_rule(
        "Spanish billing",
        conditions={"match": "all", "conditions": [{"field": "text", "op": "contains_any", "value": ["factura"]}]},
        actions=[{"type": "assign_agent", "team": support.pk, "strategy": "skills", "skills": ["billing"]}],
    )
    tom.writes("Hola, tengo un problema con mi factura del mes pasado")
    tasks.run()
    conversation = Conversation.objects.select_related("assignee").get()
    assert conversation.assignee.username == "bea" and conversation.team == "Support"
    run = RoutingRun.objects.get()
    action = run.trace["events"][-1]["rules"][0]["actions"][0]
    assert action["ok"] is True
    assert action["outcome"] == "assigned to bea in Support: skills match: 1/1 (billing); language es: yes; 0/5 open"


def test_labels_priority_status_and_sla(make_rule: Callable[..., Rule], tom: TelegramCustomer, tasks: Any) -> None:
    policy = SlaPolicy.objects.create(name="Gold", first_response_urgent=30, resolution_urgent=240)
    make_rule(
        "Angry customers",
        conditions={"match": "all", "conditions": [{"field": "sentiment", "op": "lt", "value": -0.3}]},
        actions=[
            {"type": "add_labels", "labels": ["Angry", "escalate"]},
            {"type": "set_priority", "priority": "urgent"},
            {"type": "set_status", "status": "pending"},
            {"type": "apply_sla", "policy": policy.pk},
        ],
    )
    make_rule(
        "Not escalated after all",
        position=200,
        conditions={"match": "all", "conditions": [{"field": "labels", "op": "has_any", "value": ["angry"]}]},
        actions=[{"type": "remove_labels", "labels": ["escalate"]}],
    )
    tom.writes("This is terrible, awful service, I hate it and I am furious!")
    tasks.run()
    conversation = Conversation.objects.get()
    # The second rule saw the label the first one added.
    assert conversation.labels == ["angry"] and conversation.priority == 3 and conversation.status == "pending"
    assert RoutingState.objects.get(conversation=conversation).sla_policy_id == policy.pk
    assert sorted(conversation.sla_clocks.values_list("kind", "target_minutes")) == [
        ("first_response", 30),
        ("resolution", 240),
    ]


def test_snooze_and_mark_spam(make_rule: Callable[..., Rule], tom: TelegramCustomer, tasks: Any, support: Team) -> None:
    make_rule(
        "Spam",
        conditions={"match": "any", "conditions": [{"field": "text", "op": "matches", "value": r"crypto|casino"}]},
        actions=[{"type": "assign_team", "team": support.pk}, {"type": "mark_spam"}],
        stop_processing=True,
    )
    make_rule(
        "Snooze the rest", position=300, actions=[{"type": "set_status", "status": "snoozed", "snooze_minutes": 60}]
    )
    tom.writes("Win big at our CASINO")
    tasks.run()
    conversation = Conversation.objects.get()
    assert conversation.status == "resolved" and conversation.labels == ["spam"]
    assert not QueueEntry.objects.exists()  # nobody waits for a spammer
    events = RoutingRun.objects.get().trace["events"]
    assert [r["name"] for r in events[-1]["rules"]] == ["Spam"] and events[-1]["rules"][0]["stopped"] is True


def test_notify_team_by_email_after_commit(
    make_rule: Callable[..., Rule],
    make_agent: Callable[..., AgentProfile],
    tom: TelegramCustomer,
    tasks: Any,
    support: Team,
) -> None:
    make_agent("ana", team=support)
    make_agent("ben", team=support)
    make_rule(
        "Tell the team",
        actions=[{"type": "notify_email", "team": support.pk, "message": "{contact.name} needs help."}],
    )
    tom.writes("Please call me back")
    tasks.run()
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert sorted(email.to) == ["ana@example.com", "ben@example.com"]
    assert "Tom Baker needs help." in email.body and "Please call me back" in email.body
    assert "/admin/social/conversation/" in email.body


def test_partner_webhook_is_signed_and_sent_from_a_task(
    make_rule: Callable[..., Rule],
    make_channel: Callable[..., Channel],
    fake_provider: Any,
    tom: TelegramCustomer,
    tasks: Any,
) -> None:
    partner = make_channel(
        Channel.Kind.API, name="ERP", outbound_url=f"{fake_provider.url}/erp", signing_secret=API_SECRET
    )
    make_rule("Tell the ERP", actions=[{"type": "webhook", "channel": partner.pk}])
    tom.writes("Order 12345 is missing")
    tasks.run()
    call = RuleWebhookCall.objects.get()
    assert call.status == "sent" and call.attempts == 1
    run = RoutingRun.objects.get()  # written before the action that refers to it, its trace at the end
    received = next(event for event in run.trace["events"] if event["event"] == "message_received")
    assert call.run_id == run.pk and received["rules"][0]["actions"][0]["ok"] is True
    request = next(r for r in fake_provider.requests if r.path == "/erp")
    body = request.json()
    assert body["type"] == "routing_event" and body["event"] == "message_received"
    assert body["message"]["text"] == "Order 12345 is missing" and body["rule"]["name"] == "Tell the ERP"
    stamp = request.headers["x-scrm-timestamp"]
    expected = hmac.new(API_SECRET.encode(), f"{stamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-scrm-signature"] == f"sha256={expected}"
    json.loads(request.body)


def test_partner_webhook_is_retried_when_the_partner_fails(
    make_rule: Callable[..., Rule],
    make_channel: Callable[..., Channel],
    fake_provider: Any,
    tom: TelegramCustomer,
    tasks: Any,
) -> None:
    partner = make_channel(
        Channel.Kind.API, name="ERP", outbound_url=f"{fake_provider.url}/erp", signing_secret=API_SECRET
    )
    make_rule("Tell the ERP", actions=[{"type": "webhook", "channel": partner.pk}])
    fake_provider.script((503, {"error": "busy"}))
    tom.writes("hello")
    tasks.run()
    call = RuleWebhookCall.objects.get()
    assert call.status == "pending" and "503" in call.error
    tasks.run_scheduled()
    call.refresh_from_db()
    assert call.status == "sent" and call.attempts == 2


def test_a_failing_action_is_recorded_and_the_others_still_run(
    make_rule: Callable[..., Rule], tom: TelegramCustomer, tasks: Any, fake_provider: Any
) -> None:
    doomed = Team.objects.create(name="Doomed")
    make_rule(
        "Route and label",
        actions=[
            {"type": "assign_team", "team": doomed.pk},
            {"type": "add_labels", "labels": ["seen"]},
            {"type": "reply", "template": "Thanks {contact.first_name}!"},
        ],
    )
    doomed.delete()  # after the rule was saved
    tom.writes("hi")
    tasks.run(limit=1)  # the webhook delivery is stored; routing is queued
    Channel.objects.filter(kind="telegram").update(is_active=False)  # the reply will be refused too
    tasks.run()
    conversation = Conversation.objects.get()
    assert conversation.labels == ["seen"]
    assert Message.objects.filter(direction="in").count() == 1  # the message is kept
    run = RoutingRun.objects.get()
    actions = run.trace["events"][-1]["rules"][0]["actions"]
    assert [(a["action"], a["ok"]) for a in actions] == [("assign_team", False), ("add_labels", True), ("reply", False)]
    assert actions[0]["error"].startswith("team #") and "no longer exists" in actions[0]["error"]
    assert actions[2]["error"] == "The channel is inactive."
    assert run.actions_failed == 2
