"""SLA policies and clocks: due times in business minutes (overnight, weekend, DST), met by the right events,
recomputed on a priority change, swept for warnings and breaches that fire escalation rules once, the
breaches report and the policy form in the admin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client

from crm.models import User
from routing.hours import business_minutes_between
from routing.models import BusinessHours, ConversationSla, OpeningPeriod, RoutingRun, Rule, SlaPolicy, Team
from routing.services.hours import team_calendar
from routing.services.rules import message_route
from routing.services.sla import sla_apply, sla_sweep
from social.models import Conversation, Message
from social.services.conversations import conversation_set_status, conversation_update
from social.services.outbound import message_reply
from tests.admin_forms import errors_of, form_data
from tests.conftest import make_staff
from tests.helpers.concurrency import run_concurrently
from tests.routing.conftest import TelegramCustomer

pytestmark = pytest.mark.django_db

# Monday–Friday 09:00–17:00 in Berlin. 2026-03-27 is a Friday (UTC+1); Sunday 29 March the clocks go
# forward, so Monday 30 March is UTC+2.
FRI_1630 = dt.datetime(2026, 3, 27, 15, 30, tzinfo=dt.UTC)  # 16:30 Berlin, half an hour before closing
MON_0930 = dt.datetime(2026, 3, 30, 7, 30, tzinfo=dt.UTC)  # 09:30 Berlin (summer time)
WED_1630 = dt.datetime(2026, 6, 10, 14, 30, tzinfo=dt.UTC)  # 16:30 Berlin (UTC+2)
THU_0930 = dt.datetime(2026, 6, 11, 7, 30, tzinfo=dt.UTC)


@pytest.fixture
def office(db: None) -> Team:
    hours = BusinessHours.objects.create(name="Berlin office", timezone="Europe/Berlin")
    for day in range(5):
        OpeningPeriod.objects.create(business_hours=hours, weekday=day, start=dt.time(9), end=dt.time(17))
    return Team.objects.create(name="Support", business_hours=hours)


@pytest.fixture
def gold(db: None) -> SlaPolicy:
    return SlaPolicy.objects.create(
        name="Gold",
        first_response_normal=60,
        next_response_normal=120,
        resolution_normal=960,
        first_response_urgent=15,
        next_response_urgent=30,
        resolution_urgent=240,
        warning_minutes=10,
    )


@pytest.fixture
def routed(make_rule: Callable[..., Rule], office: Team, gold: SlaPolicy) -> None:
    make_rule(
        "Support with Gold SLA",
        actions=[{"type": "assign_team", "team": office.pk}, {"type": "apply_sla", "policy": gold.pk}],
    )


@pytest.fixture
def ana(db: None) -> User:
    return make_staff("ana", "Agent")


def route_first_message(tom: TelegramCustomer, tasks: Any, *, created_at: dt.datetime) -> Conversation:
    """Tom writes; the conversation is dated ``created_at`` and routed as of that time."""
    tom.writes("Hello, my order did not arrive")
    tasks.commit()
    tasks.run(limit=1)  # stores the message and queues the routing task
    Conversation.objects.update(created_at=created_at)
    Message.objects.update(created_at=created_at)
    message = Message.objects.get()
    message_route(message_id=message.pk, now=created_at)
    tasks.queued.clear()
    return Conversation.objects.get()


def clocks(conversation: Conversation) -> dict[str, ConversationSla]:
    return {c.kind: c for c in ConversationSla.objects.filter(conversation=conversation, met_at=None)}


def test_due_times_count_business_minutes_over_the_weekend_and_the_dst_change(
    routed: None, tom: TelegramCustomer, tasks: Any, office: Team
) -> None:
    conversation = route_first_message(tom, tasks, created_at=FRI_1630)
    open_clocks = clocks(conversation)
    assert set(open_clocks) == {"first_response", "resolution"}
    first = open_clocks["first_response"]
    # 30 minutes on Friday, the weekend closed, 30 minutes on Monday morning (now UTC+2).
    assert first.due_at == MON_0930
    assert first.warn_at == MON_0930 - dt.timedelta(minutes=10)
    assert business_minutes_between(team_calendar(office), first.started_at, first.due_at) == 60
    # 960 minutes = two working days: 30 on Friday, 480 on Monday, 450 on Tuesday → Tuesday 16:30 Berlin.
    assert open_clocks["resolution"].due_at == dt.datetime(2026, 3, 31, 14, 30, tzinfo=dt.UTC)
    run = RoutingRun.objects.get()
    outcome = run.trace["events"][-1]["rules"][0]["actions"][1]["outcome"]
    assert outcome.startswith("SLA policy “Gold” applied: first response due 2026-03-30 07:30 UTC")


def test_overnight_and_a_priority_change_recomputes_the_due_times(
    routed: None, tom: TelegramCustomer, tasks: Any
) -> None:
    conversation = route_first_message(tom, tasks, created_at=WED_1630)
    assert clocks(conversation)["first_response"].due_at == THU_0930
    conversation_update(conversation=conversation, actor=None, priority=Conversation.Priority.URGENT)
    urgent = clocks(conversation)
    # Urgent: 15 business minutes from Wednesday 16:30 Berlin → 16:45 the same day.
    assert urgent["first_response"].due_at == dt.datetime(2026, 6, 10, 14, 45, tzinfo=dt.UTC)
    assert urgent["first_response"].priority == 3 and urgent["first_response"].target_minutes == 15
    assert urgent["resolution"].target_minutes == 240


def test_replies_and_resolution_meet_the_right_clocks(
    routed: None, tom: TelegramCustomer, tasks: Any, ana: User
) -> None:
    conversation = route_first_message(tom, tasks, created_at=WED_1630)
    message_reply(conversation=conversation, text="Automatic: we got it", user=None)
    assert "first_response" in clocks(conversation), "a bot reply is not a response"
    message_reply(conversation=conversation, text="Looking into it", user=ana)
    first = ConversationSla.objects.get(conversation=conversation, kind="first_response")
    assert first.met_at is not None and first.breached_at is None
    assert set(clocks(conversation)) == {"resolution"}

    # The customer writes again: a next-response clock starts at that message (and only one for two).
    tom.writes("Any news?")
    tom.writes("Hello?")
    tasks.run()
    nxt = clocks(conversation)["next_response"]
    assert nxt.started_at == Message.objects.filter(text="Any news?").get().created_at
    assert ConversationSla.objects.filter(kind="next_response").count() == 1
    message_reply(conversation=conversation, text="It ships tomorrow", user=ana)
    assert set(clocks(conversation)) == {"resolution"}

    conversation_set_status(conversation=conversation, status="resolved")
    assert clocks(conversation) == {}
    # Reopened by the customer: a new resolution clock and a next-response clock from that message.
    tom.writes("It did not ship")
    tasks.run()
    assert set(clocks(conversation)) == {"resolution", "next_response"}
    assert ConversationSla.objects.filter(kind="resolution").count() == 2


def test_the_sweep_warns_then_breaches_and_escalates_once(
    routed: None, tom: TelegramCustomer, tasks: Any, make_rule: Callable[..., Rule]
) -> None:
    make_rule("Heads-up", trigger="sla_warning", actions=[{"type": "add_labels", "labels": ["sla-warning"]}])
    first_response = {"match": "all", "conditions": [{"field": "sla_kind", "op": "is", "value": "first_response"}]}
    make_rule(
        "Escalate",
        trigger="sla_breached",
        conditions=first_response,
        actions=[{"type": "set_priority", "priority": "urgent"}, {"type": "add_labels", "labels": ["escalated"]}],
    )
    make_rule(
        "Resolution late",
        trigger="sla_breached",
        conditions={"match": "all", "conditions": [{"field": "sla_kind", "op": "is", "value": "resolution"}]},
        actions=[{"type": "add_labels", "labels": ["resolution-late"]}],
    )
    conversation = route_first_message(tom, tasks, created_at=WED_1630)
    assert sla_sweep(now=WED_1630 + dt.timedelta(minutes=20)) == {"warned": 0, "breached": 0}
    # Thursday 09:25 Berlin: 55 business minutes gone, the warning (10 before) is due.
    assert sla_sweep(now=THU_0930 - dt.timedelta(minutes=5)) == {"warned": 1, "breached": 0}
    assert sla_sweep(now=THU_0930 - dt.timedelta(minutes=4)) == {"warned": 0, "breached": 0}
    conversation.refresh_from_db()
    assert conversation.labels == ["sla-warning"] and conversation.priority == 1

    assert sla_sweep(now=THU_0930 + dt.timedelta(minutes=1)) == {"warned": 0, "breached": 1}
    assert sla_sweep(now=THU_0930 + dt.timedelta(minutes=2)) == {"warned": 0, "breached": 0}
    conversation.refresh_from_db()
    assert conversation.labels == ["sla-warning", "escalated"] and conversation.priority == 3
    first = ConversationSla.objects.get(kind="first_response")
    assert first.breached_at == THU_0930 and first.met_at is None
    assert RoutingRun.objects.filter(key=f"sla_breached:{first.pk}").count() == 1
    # The escalation raised the priority: the resolution clock (not breached) is recomputed to urgent.
    resolution = clocks(conversation)["resolution"]
    assert resolution.target_minutes == 240
    assert sla_sweep(now=resolution.due_at) == {"warned": 0, "breached": 1}
    conversation.refresh_from_db()
    assert conversation.labels == ["sla-warning", "escalated", "resolution-late"]
    run = RoutingRun.objects.get(key=f"sla_breached:{resolution.pk}")
    assert run.trace["context"]["sla_kind"] == "resolution" and run.rules_matched == 1
    with pytest.raises(ValidationError, match="sla_kind: only SLA rules"):
        make_rule("Wrong trigger", conditions=first_response, actions=[{"type": "add_labels", "labels": ["x"]}])


def test_a_team_default_policy_applies_when_the_conversation_joins_the_team(
    make_rule: Callable[..., Rule], office: Team, gold: SlaPolicy, tom: TelegramCustomer, tasks: Any
) -> None:
    office.sla_policy = gold
    office.save(update_fields=["sla_policy"])
    make_rule("Support", actions=[{"type": "assign_team", "team": office.pk}])
    conversation = route_first_message(tom, tasks, created_at=WED_1630)
    assert set(clocks(conversation)) == {"first_response", "resolution"}
    assert clocks(conversation)["first_response"].policy == gold


def test_an_inactive_or_deleted_policy_is_a_failed_action_not_a_lost_message(
    make_rule: Callable[..., Rule], gold: SlaPolicy, tom: TelegramCustomer, tasks: Any
) -> None:
    make_rule("Gold", actions=[{"type": "apply_sla", "policy": gold.pk}, {"type": "add_labels", "labels": ["seen"]}])
    gold.is_active = False
    gold.save(update_fields=["is_active"])
    tom.writes("hi")
    tasks.run()
    run = RoutingRun.objects.get()
    actions = run.trace["events"][-1]["rules"][0]["actions"]
    assert actions[0] == {"action": "apply_sla", "ok": False, "error": "the SLA policy “Gold” is inactive"}
    assert actions[1]["ok"] is True
    assert ConversationSla.objects.count() == 0
    with pytest.raises(ValidationError, match=f"SLA policy #{gold.pk} is inactive: activate it first"):
        make_rule("New", actions=[{"type": "apply_sla", "policy": gold.pk}])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_fire_each_breach_once(
    make_channel: Callable[..., Any], make_rule: Callable[..., Rule], gold: SlaPolicy, tasks: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises all writers")
    from tests.routing.test_rule_runs_races import inbound
    from tests.social.conftest import TELEGRAM_TOKEN

    telegram = make_channel("telegram", bot_token=TELEGRAM_TOKEN, api_base="http://127.0.0.1:9")
    make_rule("Escalate", trigger="sla_breached", actions=[{"type": "add_labels", "labels": ["late"]}])
    start = dt.datetime(2026, 6, 10, 8, tzinfo=dt.UTC)
    for n in range(8):
        conversation = inbound(telegram, n).conversation
        Conversation.objects.filter(pk=conversation.pk).update(created_at=start)
        conversation.refresh_from_db()
        sla_apply(conversation=conversation, policy=gold, now=start)
    later = start + dt.timedelta(days=30)
    errors = run_concurrently(lambda _: sla_sweep(now=later), [1, 2, 3, 4])
    assert errors == []
    breached = ConversationSla.objects.exclude(breached_at=None)
    assert breached.count() == 16  # first response and resolution of each
    assert RoutingRun.objects.filter(key__startswith="sla_breached:").count() == 16
    assert all(labels == ["late"] for labels in Conversation.objects.values_list("labels", flat=True))


def test_policy_form_validation_and_the_breaches_report(
    ada: User, login: Callable[[User], Client], routed: None, tom: TelegramCustomer, tasks: Any, office: Team
) -> None:
    client = login(ada)
    data = form_data(client, "/admin/routing/slapolicy/add/")
    data.update(name="Broken", first_response_high="600", resolution_high="300", warning_minutes="5")
    data.update(warning_percent="50")
    response = client.post("/admin/routing/slapolicy/add/", data)
    errors = errors_of(response)
    assert "Longer than the resolution target (300 min): it could never be met in time." in errors
    assert "Warn by minutes before the due time or by percent elapsed, not both." in errors
    assert not SlaPolicy.objects.filter(name="Broken").exists()

    route_first_message(tom, tasks, created_at=WED_1630)
    sla_sweep(now=THU_0930 + dt.timedelta(minutes=1))
    response = client.get("/admin/routing/conversationsla/report/", {"since": "2026-06-01", "until": "2026-06-30"})
    assert response.status_code == 200
    report = response.context["report"]
    assert report["rows"][0] == {
        "team": "Support",
        "policy": "Gold",
        "kind": "First response",
        "due": 1,
        "breached": 1,
        "met_late": 0,
        "rate": 100.0,
    }
    assert report["breached"] == 1
    clocks_page = client.get("/admin/routing/conversationsla/")
    assert clocks_page.status_code == 200 and "Breaches report" in clocks_page.content.decode()
    assert len(clocks_page.context["cl"].result_list) == 2
    bad = client.get("/admin/routing/conversationsla/report/", {"since": "2026-06-30", "until": "2026-06-01"})
    assert "The last day is before the first day." in bad.content.decode()
