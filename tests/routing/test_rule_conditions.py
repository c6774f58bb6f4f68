"""Rule conditions: each field and operator against a context, through validation and compilation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from routing.engine.compiler import compile_rule, explain
from routing.engine.context import Context
from routing.engine.schema import conditions_clean
from routing.models import BusinessHours, OpeningPeriod, Team

pytestmark = pytest.mark.django_db

# Wednesday 2026-06-10 14:30 UTC = 16:30 in Berlin (summer time).
WEDNESDAY_AFTERNOON = dt.datetime(2026, 6, 10, 14, 30, tzinfo=dt.UTC)


def matches(condition: dict[str, Any], team_names: dict[int, str] | None = None, **facts: Any) -> bool:
    spec, problems = conditions_clean({"match": "all", "conditions": [condition]}, trigger="message_received")
    assert problems == []
    rule = compile_rule(
        rule_id=1, name="r", trigger="message_received", conditions=spec, actions=[], stop=False,
        team_names=team_names or {},
    )  # fmt: skip
    facts.setdefault("now", WEDNESDAY_AFTERNOON)
    ctx = Context(**facts)
    # The generated function (the hot path) and the closures (the trace) agree.
    assert rule.test(ctx) is rule.group.test(ctx)
    return rule.test(ctx)


def c(field: str, op: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value, **extra}


TABLE = [
    # (condition, facts, expected)
    (c("channel_kind", "is", "telegram"), {"channel_kind": "telegram"}, True),
    (c("channel_kind", "in", ["whatsapp", "email"]), {"channel_kind": "telegram"}, False),
    (c("channel_kind", "not_in", ["whatsapp", "email"]), {"channel_kind": "telegram"}, True),
    (c("text", "contains_any", ["Refund", "money back"]), {"text": "I want my MONEY-BACK now"}, True),
    (c("text", "contains_any", ["refund"]), {"text": "Where is my REFÜND?"}, True),  # accents fold away
    (c("text", "contains_any", ["reembolso"]), {"text": "Quiero un REEMBOLSÓ"}, True),
    (c("text", "contains_any", ["cancel"]), {"text": "cancellation policy?"}, False),  # whole words only
    (c("text", "contains_all", ["order", "late"]), {"text": "My order is late"}, True),
    (c("text", "contains_all", ["order", "late"]), {"text": "My order arrived"}, False),
    (c("text", "contains_none", ["urgent"]), {"text": "no rush"}, True),
    (c("text", "matches", r"order\s*#?\d{5}"), {"text": "About ORDER #12345"}, True),
    (c("text", "matches", r"^\d+$"), {"text": "abc"}, False),
    (c("language", "is", "es"), {"language": "es"}, True),
    (c("language", "in", ["de", "fr"]), {"language": "es"}, False),
    (c("sentiment", "lt", -0.5), {"sentiment": -0.7}, True),
    (c("sentiment", "lt", -0.5), {"sentiment": None}, False),
    (c("sentiment", "gt", 0.5), {"sentiment": 0.2}, False),
    (c("first_message", "is", True), {"first_message": True}, True),
    (c("first_message", "is", False), {"first_message": True}, False),
    (c("contact_stage", "is", "customer"), {"contact_stage": "customer"}, True),
    (c("contact_stage", "is_not", "lead"), {"contact_stage": "lead"}, False),
    (c("contact_tags", "has_any", ["VIP", "press"]), {"contact_tags": frozenset({"vip"})}, True),
    (c("contact_tags", "has_all", ["vip", "press"]), {"contact_tags": frozenset({"vip"})}, False),
    (c("contact_tags", "has_none", ["blocked"]), {"contact_tags": frozenset({"vip"})}, True),
    (c("rfm_segment", "in", ["champions", "loyal"]), {"rfm_segment": "champions"}, True),
    (c("rfm_segment", "is", ""), {"rfm_segment": "lost"}, False),
    (c("attribute", "is", "gold", key="plan"), {"attributes": {"plan": "Gold"}}, True),
    (c("attribute", "is", 3, key="seats"), {"attributes": {"seats": 3}}, True),
    (c("attribute", "is_not", "gold", key="plan"), {"attributes": {}}, True),
    (c("status", "is", "pending"), {"status": "open"}, False),
    (c("priority", "gt", "normal"), {"priority": 3}, True),
    (c("priority", "is", "low"), {"priority": 1}, False),
    (c("labels", "has_any", ["billing"]), {"labels": ("Billing", "x")}, True),
    (c("labels", "has_none", ["billing"]), {"labels": ("billing",)}, False),
    (c("assignee", "is", None), {"assignee_id": None}, True),
    (c("message_count", "gt", 3), {"message_count": 4}, True),
    (c("message_count", "lt", 3), {"message_count": 4}, False),
    (c("weekday", "in", ["wednesday", "thursday"]), {}, True),  # no hours: UTC
    (c("time_of_day", "between", ["14:00", "15:00"]), {}, True),
    (c("time_of_day", "between", ["22:00", "06:00"]), {}, False),  # overnight window
    (c("business_hours", "is", "open"), {}, True),  # no hours set up at all: always open
]


@pytest.mark.parametrize(
    ("condition", "facts", "expected"), TABLE, ids=[f"{i}-{t[0]['field']}" for i, t in enumerate(TABLE)]
)
def test_condition_table(condition: dict[str, Any], facts: dict[str, Any], expected: bool) -> None:
    assert matches(condition, **facts) is expected


def test_channel_owner_and_team_conditions_use_existing_records(make_channel: Any, sam: Any) -> None:
    telegram = make_channel("telegram")
    support = Team.objects.create(name="Support")
    assert matches(c("channel", "is", telegram.pk), channel_id=telegram.pk)
    assert matches(c("contact_owner", "is", sam.pk), owner_id=sam.pk)
    assert not matches(c("contact_owner", "is", sam.pk), owner_id=None)
    assert matches(c("team", "is", support.pk), {support.pk: "Support"}, team="Support")
    assert not matches(c("team", "is", support.pk), {support.pk: "Support"}, team="Sales")


def test_business_hours_weekday_and_time_read_the_team_hours_time_zone() -> None:
    berlin = BusinessHours.objects.create(name="Berlin office", timezone="Europe/Berlin")
    for day in range(5):
        OpeningPeriod.objects.create(business_hours=berlin, weekday=day, start=dt.time(9), end=dt.time(17))
    support = Team.objects.create(name="Support", business_hours=berlin)
    names = {support.pk: "Support"}
    # 16:30 in Berlin on a Wednesday: open, and the time of day is read in Berlin (not 14:30 UTC).
    assert matches(c("business_hours", "is", "open"), names, team="Support")
    assert matches(c("time_of_day", "between", ["16:00", "17:00"]), names, team="Support")
    evening = WEDNESDAY_AFTERNOON + dt.timedelta(hours=2)  # 18:30 Berlin
    assert matches(c("business_hours", "is", "closed"), names, team="Support", now=evening)
    # An explicit team in the condition, whatever the conversation's team.
    assert matches(c("business_hours", "is", "closed", team=support.pk), names, team="", now=evening)
    saturday = WEDNESDAY_AFTERNOON + dt.timedelta(days=3)
    assert matches(c("weekday", "in", ["saturday"]), names, team="Support", now=saturday)


def test_groups_all_any_and_one_level_of_nesting() -> None:
    spec = {
        "match": "all",
        "conditions": [
            c("channel_kind", "is", "telegram"),
            {"match": "any", "conditions": [c("language", "is", "es"), c("contact_tags", "has_any", ["vip"])]},
        ],
    }
    cleaned, problems = conditions_clean(spec, trigger="message_received")
    assert problems == []
    rule = compile_rule(rule_id=1, name="r", trigger="message_received", conditions=cleaned, actions=[], stop=False,
                        team_names={})  # fmt: skip
    assert rule.group.test(Context(channel_kind="telegram", language="es"))
    assert rule.group.test(Context(channel_kind="telegram", language="en", contact_tags=frozenset({"vip"})))
    assert not rule.group.test(Context(channel_kind="telegram", language="en"))
    assert not rule.group.test(Context(channel_kind="email", language="es"))
    explained = explain(rule.group, Context(channel_kind="telegram", language="en"))
    assert explained["conditions"][0] == {"condition": "channel_kind is telegram", "seen": "telegram", "passed": True}
    assert explained["conditions"][1]["group"] == "any" and explained["conditions"][1]["passed"] is False
    assert explained["conditions"][1]["conditions"][0] == {"condition": "language is es", "seen": "en", "passed": False}


def test_a_catastrophic_text_is_cut_off_by_the_time_limit() -> None:
    # "(a|aa)+$" passes the structural check (no nested quantifier) but backtracks exponentially: the
    # time limit stops it and the condition fails instead of hanging the worker.
    started = dt.datetime.now(dt.UTC)
    assert not matches(c("text", "matches", "(a|aa)+$"), text="a" * 60 + "b")
    assert (dt.datetime.now(dt.UTC) - started).total_seconds() < 2
