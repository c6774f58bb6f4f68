"""Capacity under concurrency, on PostgreSQL: real workers (threads, each with its own connection) routing,
draining and changing availability at the same time never push an agent over capacity."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from routing.models import AgentProfile, QueueEntry, Team
from routing.services.agents import agent_set_availability
from routing.services.assignment import agent_loads, conversation_route_to_team, team_queue_drain
from social.models import Channel, Conversation
from tests.helpers.concurrency import run_concurrently
from tests.helpers.processes import REPO_ROOT, project_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 6


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises all writers")


def assert_within_capacity(agents: list[AgentProfile]) -> dict[int, int]:
    loads = agent_loads([a.user_id for a in agents])
    totals = {a.user_id: loads[a.user_id].total if a.user_id in loads else 0 for a in agents}
    for agent in agents:
        assert totals[agent.user_id] <= agent.capacity, f"{agent} has {totals[agent.user_id]}/{agent.capacity}"
        limit = agent.capacity_for(Channel.Kind.WHATSAPP)
        if limit is not None and agent.user_id in loads:
            assert loads[agent.user_id].by_kind.get(Channel.Kind.WHATSAPP, 0) <= limit
    return totals


def test_parallel_routing_never_exceeds_capacity(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    email_channel: Channel,
) -> None:
    agents = [
        make_agent("ana", team=support, capacity=2),
        make_agent("ben", team=support, capacity=3, channel_capacity={"whatsapp": 1}),
        make_agent("cem", team=support, capacity=1),
    ]
    conversations = [make_conversation(whatsapp if i % 2 else email_channel) for i in range(24)]
    chunks = [conversations[i::WORKERS] for i in range(WORKERS)]

    def work(chunk: list[Conversation]) -> None:
        for conversation in chunk:
            conversation_route_to_team(conversation=conversation, team=support)

    assert run_concurrently(work, chunks) == []
    totals = assert_within_capacity(agents)
    assert sum(totals.values()) == 6  # every place filled
    assert QueueEntry.objects.count() == 24 - 6  # everyone else waits, each once
    assert Conversation.objects.filter(assignee__isnull=False).count() == 6


def test_parallel_drains_and_an_agent_coming_online(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    ada: Any,
) -> None:
    ana = make_agent("ana", team=support, capacity=3)
    ben = make_agent("ben", team=support, capacity=4, availability=AgentProfile.Availability.OFFLINE)
    conversations = [make_conversation(whatsapp) for _ in range(15)]
    for conversation in conversations:
        conversation_route_to_team(conversation=conversation, team=support)
    assert QueueEntry.objects.count() == 12
    # Ben comes online (the drain it asks for is a task; here the workers drain by hand) while
    # three workers drain the same queue and three more route new conversations.
    newcomers = [make_conversation(whatsapp) for _ in range(3)]

    def work(job: tuple[str, Any]) -> None:
        kind, value = job
        if kind == "drain":
            team_queue_drain(team=support)
        elif kind == "online":
            agent_set_availability(agent=ben, availability=AgentProfile.Availability.ONLINE, actor=ada)
            team_queue_drain(team=support)
        else:
            conversation_route_to_team(conversation=value, team=support)

    jobs: list[tuple[str, Any]] = [("drain", None)] * 3 + [("online", None)] + [("route", c) for c in newcomers]
    assert run_concurrently(work, jobs) == []
    ben.refresh_from_db()
    totals = assert_within_capacity([ana, ben])
    assert totals == {ana.user_id: 3, ben.user_id: 4}
    assert QueueEntry.objects.count() == 18 - 7
    # Oldest first: the first seven routed conversations are the ones assigned.
    assigned = set(Conversation.objects.filter(assignee__isnull=False).values_list("pk", flat=True))
    assert assigned == {c.pk for c in conversations[:7]}


def test_parallel_worker_processes_never_exceed_capacity(
    support: Team,
    make_agent: Callable[..., AgentProfile],
    make_conversation: Callable[..., Conversation],
    whatsapp: Channel,
    tmp_path: Path,
) -> None:
    """The same with real processes, as two django-q workers and the web server would run it."""
    agents = [make_agent("ana", team=support, capacity=3), make_agent("ben", team=support, capacity=2)]
    conversations = [make_conversation(whatsapp) for _ in range(16)]
    db = connection.settings_dict
    url = (
        f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = project_env(tmp_path, DATABASE_URL=url)
    workers = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tests.routing.route_worker", str(support.pk), *[str(c.pk) for c in chunk]],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for chunk in (conversations[i::4] for i in range(4))
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:  # all at once
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            _out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    totals = assert_within_capacity(agents)
    assert sum(totals.values()) == 5
    assert QueueEntry.objects.count() == 11
