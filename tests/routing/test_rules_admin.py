"""Rules in the admin: strict validation with messages, the "test this rule" page, the trace on the conversation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from crm.models import User
from routing.models import AgentProfile, RoutingRun, Rule, Team
from social.models import Conversation, Message
from tests.admin_forms import errors_of, form_data
from tests.routing.conftest import TelegramCustomer

pytestmark = pytest.mark.django_db
RULE_ADD = "/admin/routing/rule/add/"


def rule_form(client: Client, conditions: Any, actions: Any, **values: Any) -> dict[str, Any]:
    data = form_data(client, RULE_ADD)
    data.update(
        name="Billing in Spanish",
        position="10",
        trigger="message_received",
        conditions=conditions if isinstance(conditions, str) else json.dumps(conditions),
        actions=actions if isinstance(actions, str) else json.dumps(actions),
    )
    data.update(values)
    return data


def leaf(field: str, op: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value, **extra}


def test_bad_rules_are_refused_with_a_message_each(ada: User, login: Callable[[User], Client]) -> None:
    client = login(ada)
    gone = Team.objects.create(name="Gone")
    gone_id = gone.pk
    gone.delete()
    conditions = {
        "match": "all",
        "conditions": [
            leaf("colour", "is", "red"),
            leaf("text", "matches", "(a+)+$"),
            leaf("text", "matches", "order [0-9"),
            {"field": "language", "op": "is", "value": "es", "lang": "x"},
            {"match": "any", "conditions": [leaf("sentiment", "below", -0.5)]},
        ],
    }
    actions = [
        {"type": "assign_team", "team": gone_id},
        {"type": "reply", "template": "Hi {contact.nickname}, {team.name}"},
        {"type": "launch_rocket"},
        {"type": "set_status", "status": "snoozed"},
    ]
    response = client.post(RULE_ADD, rule_form(client, conditions, actions))
    assert response.status_code == 200
    errors = errors_of(response)
    assert "Condition 1: unknown field &#x27;colour&#x27;" in errors
    assert "nested quantifiers such as (a+)+ can take exponential time" in errors
    assert "“order [0-9” is not a valid regular expression" in errors
    assert "Condition 4 (language): unknown key(s) lang" in errors
    assert "Group 5, condition 1 (sentiment): operator &#x27;below&#x27; is not allowed (use one of: lt, gt)" in errors
    assert f"Action 1 (assign_team): team #{gone_id} does not exist (deleted?)" in errors
    assert "unknown variable {contact.nickname}" in errors
    assert "Action 3: unknown action &#x27;launch_rocket&#x27;" in errors
    assert "snoozing needs snooze_minutes" in errors
    assert not Rule.objects.exists()


def test_contradictions_are_refused_and_what_is_only_unusual_is_kept(
    ada: User, login: Callable[[User], Client]
) -> None:
    client = login(ada)
    support = Team.objects.create(name="Support")
    sales = Team.objects.create(name="Sales")
    never = {
        "match": "all",
        "conditions": [leaf("channel_kind", "is", "telegram"), leaf("channel_kind", "is", "email")],
    }
    response = client.post(RULE_ADD, rule_form(client, never, [{"type": "add_labels", "labels": ["x"]}]))
    assert "channel_kind: the values required and the values excluded leave nothing; this can never match" in errors_of(
        response
    )

    bounds = {"match": "all", "conditions": [leaf("sentiment", "gt", 0.5), leaf("sentiment", "lt", 0.2)]}
    response = client.post(RULE_ADD, rule_form(client, bounds, [{"type": "add_labels", "labels": ["x"]}]))
    assert "sentiment: the lower and upper bounds leave nothing" in errors_of(response)

    actions = [{"type": "assign_team", "team": support.pk}, {"type": "assign_team", "team": sales.pk}]
    response = client.post(RULE_ADD, rule_form(client, {}, actions))
    assert "assigning to two different teams" in errors_of(response)

    actions = [{"type": "mark_spam"}, {"type": "reply", "template": "Thanks!"}]
    response = client.post(RULE_ADD, rule_form(client, {}, actions))
    assert "reply after resolving / marking as spam" in errors_of(response)

    response = client.post(
        RULE_ADD,
        rule_form(client, {"conditions": [leaf("first_message", "is", False)]}, [{"type": "mark_spam"}],
                  trigger="conversation_created"),
    )  # fmt: skip
    assert "“first message is false” never matches" in errors_of(response)

    response = client.post(
        RULE_ADD,
        rule_form(
            client,
            {"conditions": [leaf("text", "contains_any", ["x"])]},
            [{"type": "mark_spam"}],
            trigger="sla_breached",
        ),
    )
    assert "text: these look at the message, and a sla_breached rule runs without one." in errors_of(response)
    assert not Rule.objects.exists()

    # "team is Support" with "assign to Support" on conversation created: unusual, not contradictory.
    fine = {"match": "any", "conditions": [leaf("team", "is", support.pk), leaf("channel_kind", "is", "email"),
                                           leaf("channel_kind", "is", "telegram")]}  # fmt: skip
    response = client.post(
        RULE_ADD,
        rule_form(client, fine, [{"type": "assign_team", "team": support.pk}, {"type": "mark_spam"}],
                  trigger="conversation_created"),
    )  # fmt: skip
    assert response.status_code == 302, errors_of(response)


def test_a_valid_rule_is_saved_normalised(ada: User, login: Callable[[User], Client]) -> None:
    client = login(ada)
    support = Team.objects.create(name="Support")
    conditions = {
        "match": "all",
        "conditions": [
            leaf("text", "contains_any", ["Factura", "Cobro!"]),
            {"match": "any", "conditions": [leaf("language", "is", "ES"), leaf("weekday", "in", ["Saturday"])]},
        ],
    }
    actions = [
        {"type": "assign_agent", "team": support.pk, "strategy": "skills", "skills": ["Billing"]},
        {"type": "set_priority", "priority": "high"},
    ]
    response = client.post(RULE_ADD, rule_form(client, conditions, actions))
    assert response.status_code == 302, errors_of(response)
    rule = Rule.objects.get()
    assert rule.conditions["conditions"][0]["value"] == ["factura", "cobro"]
    assert rule.conditions["conditions"][1]["conditions"] == [leaf("language", "is", "es"), leaf("weekday", "in", [5])]
    assert rule.actions[1] == {"type": "set_priority", "priority": 2}
    page = client.get(f"/admin/routing/rule/{rule.pk}/change/").content.decode()
    assert "Test this rule" in page and "Reference: conditions and actions" in page


def test_rule_test_page_shows_the_trace_and_changes_nothing(
    ada: User, login: Callable[[User], Client], make_rule: Callable[..., Rule]
) -> None:
    rule = make_rule(
        "Refunds",
        is_active=False,  # inactive rules can be tried too
        conditions={
            "match": "all",
            "conditions": [leaf("text", "contains_any", ["refund"]), leaf("sentiment", "lt", 0)],
        },
        actions=[
            {"type": "add_labels", "labels": ["refund"]},
            {"type": "reply", "template": "Hi {contact.first_name}"},
        ],
    )
    client = login(ada)
    url = f"/admin/routing/rule/{rule.pk}/test/"
    page = client.get(url).content.decode()
    assert 'id="rule-test-form"' in page and "rule-test-result" not in page

    query = {"text": "I want a REFUND <b>now</b>", "channel_kind": "telegram", "sentiment": "-0.6",
             "message_count": "1", "contact_stage": "lead", "status": "open", "priority": "1"}  # fmt: skip
    page = client.get(url, query).content.decode()
    assert "✔ The rule matches" in page
    assert "text contains any refund — seen: <code>I want a REFUND &lt;b&gt;now&lt;/b&gt;</code>" in page
    assert "sentiment lt -0.0" not in page and "sentiment lt 0.0 — seen: <code>-0.6</code>" in page
    assert "add labels (labels: refund)" in page
    page = client.get(url, {**query, "sentiment": "0.4"}).content.decode()
    assert "✘ The rule does not match" in page and "✘ sentiment lt 0.0 — seen: <code>0.4</code>" in page
    assert not RoutingRun.objects.exists() and not Message.objects.exists()


def test_agents_may_try_rules_but_not_edit_them(
    sam: User, login: Callable[[User], Client], make_rule: Callable[..., Rule]
) -> None:
    rule = make_rule("Labels", actions=[{"type": "add_labels", "labels": ["x"]}])
    client = login(sam)
    assert client.get(f"/admin/routing/rule/{rule.pk}/test/").status_code == 200
    assert client.post(f"/admin/routing/rule/{rule.pk}/change/", {}).status_code == 403


def test_the_conversation_page_shows_the_routing_trace_escaped(
    ada: User,
    login: Callable[[User], Client],
    make_rule: Callable[..., Rule],
    make_agent: Callable[..., AgentProfile],
    support: Team,
    tom: TelegramCustomer,
    tasks: Any,
) -> None:
    make_agent("ana", team=support, capacity=5)
    make_rule(
        "Not for us",
        conditions={"match": "all", "conditions": [leaf("channel_kind", "is", "email")]},
        actions=[{"type": "add_labels", "labels": ["email"]}],
    )
    make_rule(
        "Support <first>",
        position=200,
        conditions={"match": "all", "conditions": [leaf("text", "contains_any", ["help"])]},
        actions=[{"type": "assign_team", "team": support.pk}],
    )
    tom.writes("help me <script>alert(1)</script>")
    tasks.run()
    conversation = Conversation.objects.get()
    page = login(ada).get(f"/admin/social/conversation/{conversation.pk}/change/").content.decode()
    assert 'id="routing-runs"' in page
    assert "conversation_created, message_received" in page
    assert "<strong>Not for us</strong>: ✘ did not match" in page
    assert "✘ channel_kind is email — seen: <code>telegram</code>" in page
    assert "<strong>Support &lt;first&gt;</strong>: ✔ matched" in page
    assert "assign_team: ✔ assigned to ana in Support: least loaded: 0/5 open" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    run = RoutingRun.objects.get()
    full = login(ada).get(f"/admin/routing/routingrun/{run.pk}/change/").content.decode()
    assert "assigned to ana in Support" in full and "<script>alert(1)</script>" not in full
    listing = login(ada).get(f"/admin/routing/routingrun/?conversation__id__exact={conversation.pk}")
    assert listing.status_code == 200 and f"/admin/routing/routingrun/{run.pk}/change/" in listing.content.decode()


def test_an_empty_conditions_box_means_every_conversation(ada: User, login: Callable[[User], Client]) -> None:
    client = login(ada)
    response = client.post(RULE_ADD, rule_form(client, "", [{"type": "add_labels", "labels": ["all"]}]))
    assert response.status_code == 302, errors_of(response)
    assert Rule.objects.get().conditions == {"match": "all", "conditions": []}
    response = client.post(RULE_ADD, rule_form(client, "{not json", "[]"))
    errors = errors_of(response)
    assert "Enter a valid JSON." in errors and "a rule needs at least one action" in errors
