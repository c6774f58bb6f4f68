"""Dry run: replaying past messages against a candidate rule set changes nothing and reports the differences,
through the service, the management command and the admin action."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from crm.models import User
from routing.models import AgentProfile, Rule, Team
from routing.services.dry_run import DryRunError, candidate_rules, dry_run, report_lines
from social.models import Channel
from tests.routing.conftest import TelegramCustomer

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(
    make_rule: Callable[..., Rule],
    make_agent: Callable[..., AgentProfile],
    telegram: Channel,
    tom: TelegramCustomer,
    tasks: Any,
) -> dict[str, Any]:
    """Two teams, three rules (one inactive) and three routed messages from Tom and Ida."""
    support = Team.objects.create(name="Support")
    billing = Team.objects.create(name="Billing")
    make_agent("bea", team=support)
    make_agent("carl", team=billing)
    route = make_rule(
        "Support",
        position=10,
        actions=[
            {"type": "assign_team", "team": support.pk},
            {"type": "reply", "template": "Hi {contact.first_name}, {team.name} has it."},
        ],
    )
    invoice = make_rule(
        "Invoices",
        position=20,
        conditions={"match": "all", "conditions": [{"field": "text", "op": "contains_any", "value": ["invoice"]}]},
        actions=[{"type": "add_labels", "labels": ["billing"]}],
    )
    vip = make_rule("VIP", position=30, is_active=False, actions=[{"type": "add_labels", "labels": ["vip"]}])
    ida = TelegramCustomer(telegram, user_id=5151, first_name="Ida")
    tom.writes("hello")
    tom.writes("about my invoice")
    ida.writes("refund please")
    tasks.run()
    return {"route": route, "invoice": invoice, "vip": vip, "support": support, "billing": billing}


def row_counts() -> dict[str, int]:
    models = [*apps.get_app_config("routing").get_models(), *apps.get_app_config("social").get_models()]
    return {model._meta.label: model.objects.count() for model in models}


def window() -> tuple[dt.datetime, dt.datetime]:
    now = timezone.now()
    return now - dt.timedelta(days=1), now + dt.timedelta(minutes=1)


def test_replaying_the_active_rules_matches_what_happened_and_changes_nothing(history: dict[str, Any]) -> None:
    before = row_counts()
    since, until = window()
    report = dry_run(since=since, until=until, rules=candidate_rules())
    assert row_counts() == before
    assert (report.messages, report.same, report.different) == (3, 3, 0)


def test_a_changed_rule_shows_the_differences(history: dict[str, Any], tasks: Any) -> None:
    before = row_counts()
    changed = [
        {
            "id": history["route"].pk,
            "name": "Support → Billing",
            "position": 10,
            "actions": [
                {"type": "assign_team", "team": history["billing"].pk},
                {"type": "reply", "template": "Billing here, {contact.first_name}."},
            ],
        }
    ]
    since, until = window()
    report = dry_run(since=since, until=until, rules=candidate_rules(definitions=changed))
    assert row_counts() == before
    assert tasks.queued == []
    assert (report.messages, report.different, len(report.conversations)) == (3, 3, 2)
    tom_first = report.conversations[0].messages[0]
    assert sorted(tom_first.would) == ["assign Billing → carl", "reply: Billing here, Tom."]
    assert sorted(tom_first.did) == ["assign Support → bea", "reply: Hi Tom, Support has it."]
    # The second message still gets its label: only the changed rule differs.
    assert "label +billing" in report.conversations[0].messages[1].would
    text = "\n".join(report_lines(report))
    assert "3 inbound message(s) replayed: 0 the same, 3 different in 2 conversation(s)." in text
    assert "    + would: assign Billing → carl" in text and "    - did:   reply: Hi Ida, Support has it." in text


def test_an_inactive_rule_can_be_tried_and_bad_definitions_are_refused(history: dict[str, Any]) -> None:
    since, until = window()
    rules = candidate_rules(rule_ids=[history["route"].pk, history["invoice"].pk, history["vip"].pk])
    report = dry_run(since=since, until=until, rules=rules)
    # Each conversation's first message would be labelled "vip"; Tom's second one already is (the replay
    # carries its simulated labels forward), so it is the same as what happened.
    assert report.different == 2
    assert [m.would.count("label +vip") for c in report.conversations for m in c.messages] == [1, 1]

    with pytest.raises(DryRunError) as refused:
        candidate_rules(
            definitions=[
                {"name": "Bad", "conditions": {"match": "all", "conditions": [{"field": "mood", "op": "is"}]}},
                {"name": "Worse", "actions": [{"type": "reply", "template": "{secret}"}], "colour": "red"},
                {"id": 99999, "name": "Ghost", "actions": [{"type": "add_labels", "labels": ["x"]}]},
            ]
        )
    problems = str(refused.value).splitlines()
    assert problems[0].startswith("Rule 1 (Bad): conditions: Condition 1: unknown field 'mood'")
    assert "Rule 1 (Bad): actions: Actions: a rule needs at least one action." in problems
    assert problems[-2:] == ["Rule 2 (Worse): unknown key(s) colour", "Rule 3 (Ghost): no saved rule #99999 to replace"]
    with pytest.raises(DryRunError, match="No rule with id 424242"):
        candidate_rules(rule_ids=[424242])


def test_the_management_command(history: dict[str, Any], tmp_path: Path, capsys: Any) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(
        json.dumps(
            [
                {
                    "id": history["invoice"].pk,
                    "name": "Invoices off",
                    "actions": [{"type": "add_labels", "labels": ["x"]}],
                    "conditions": {
                        "match": "all",
                        "conditions": [{"field": "text", "op": "contains_any", "value": ["nothing"]}],
                    },
                }
            ]
        )
    )
    before = row_counts()
    call_command("routing_dry_run", "--since", "1d", "--rules-file", str(rules_file))
    out = capsys.readouterr().out
    assert row_counts() == before
    assert "3 inbound message(s) replayed: 2 the same, 1 different in 1 conversation(s)." in out
    assert "“about my invoice”" in out and "    - did:   label +billing" in out

    with pytest.raises(CommandError, match="is not a date"):
        call_command("routing_dry_run", "--since", "yesterday")
    with pytest.raises(CommandError, match="not valid JSON"):
        rules_file.write_text("[{")
        call_command("routing_dry_run", "--since", "1d", "--rules-file", str(rules_file))
    with pytest.raises(CommandError, match="not a list of rule ids"):
        call_command("routing_dry_run", "--since", "1d", "--rules", "1,x")


def test_the_admin_action(history: dict[str, Any], ada: User, login: Callable[[User], Client]) -> None:
    client = login(ada)
    ids = [str(history["route"].pk), str(history["vip"].pk)]
    page = client.post("/admin/routing/rule/", {"action": "dry_run", "_selected_action": ids})
    assert page.status_code == 200 and "Last N days" in page.content.decode()
    before = row_counts()
    response = client.post(
        "/admin/routing/rule/", {"action": "dry_run", "_selected_action": ids, "run": "1", "days": "7"}
    )
    assert row_counts() == before
    report = response.context["report"]
    # Without the invoice rule, Tom's second message would not be labelled "billing"; VIP labels the others.
    assert (report.messages, report.different) == (3, 3)
    assert "label +vip" in response.content.decode()

    bad = client.post(
        "/admin/routing/rule/",
        {"action": "dry_run", "_selected_action": ids, "run": "1", "days": "7", "definitions": '[{"name": 5}]'},
    )
    assert bad.context["report"] is None
    assert "Rule 1: " in bad.content.decode()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_replay_runs_read_only(history: dict[str, Any], capsys: Any) -> None:
    """The command's real situation (no surrounding transaction): on PostgreSQL ``READ ONLY``."""
    before = row_counts()
    call_command("routing_dry_run", "--since", "1d", "--rules", f"{history['route'].pk},{history['vip'].pk}")
    out = capsys.readouterr().out
    assert row_counts() == before
    assert "+ would: label +vip" in out
