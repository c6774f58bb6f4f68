"""Routing end to end: signed webhooks in, conversations assigned to a team and auto-replies queued out.

    createdb -h 127.0.0.1 -U postgres scrm_routing_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_routing_bench .venv/bin/python bench/routing_end_to_end.py
    ... --events 2000 --senders 600 --broker orm|redis --q-workers 2 --connections 16

The pieces (gunicorn on loopback, the asyncio load generator, realistic Telegram updates, child processes,
queue and CPU helpers) are ``bench/webhook_ingest.py``'s. Steps:

1. Refuse SQLite; migrate; take the webhook bench's advisory lock (one of the two per database at a time);
   forget what earlier runs left (channels named ``bench: webhook …``, rules, team and agents named
   ``bench: …``). A fake Telegram Bot API runs in this process on loopback (it answers every
   ``sendMessage``), so that the auto-replies the rules queue are really sent by the workers.
2. Two phases, each on a new Telegram channel with the same ``--events`` updates from ``--senders`` chats
   (unique ``update_id``; every chat writes, a few write a lot; five languages, photos, documents):

   - **baseline**: no rules. Each message still gets its routing task (a run with nothing to do);
   - **rules**: ``conversation_created`` → assign to the team ``bench: Support`` (least loaded among four
     online agents with room) and reply "Hi {contact.first_name}, {team.name} will answer shortly.";
     ``message_received`` → label ``billing`` on words such as invoice / refund / Bestellung / pedido, and
     priority high below a sentiment of -0.5.

   ``manage.py qcluster`` starts with ``Q_WORKERS`` (2) and is ready (its log says so) before the clock
   starts; gunicorn (4 gthread workers x 4 threads) receives the updates over 16 keep-alive connections
   while the workers process them. The clock runs from the first post until every message has its
   routing run and, with rules, every conversation is assigned and its auto-reply queued (polled every
   0.2 s; the last routing run's own time stamp is printed too).
3. Counted, so that nothing is lost: events stored and processed, inbound messages, routing runs (one per
   message, none with a failed action), conversations (one per chat), conversations assigned, auto-replies.

Figures: messages/s over the whole (first post to last routed), the webhook's requests/s while the workers
run, and CPU time per message of gunicorn, the cluster and the PostgreSQL backends (from /proc). PASS when the
rules phase reaches ``--target-rate`` (500) messages/s with every count right.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.core.management import call_command
from django.db import connection
from django.db.models import Max, Sum
from django.utils import timezone

from bench.webhook_ingest import (
    CHANNEL_PREFIX,
    SECRET_HEADER,
    _bench_lock_take,
    _child,
    _child_env,
    _cpu_delta,
    _database_cpu,
    _forget_bench_channels,
    _group_cpu_seconds,
    _gunicorn,
    _load,
    _load_average,
    _purge_queue,
    _realistic_updates,
    _redis_ping,
    _server_version,
    _store_updates,
    _task_results_trim,
    _webhook_path,
)
from crm.models import User
from routing.models import AgentProfile, RoutingRun, Rule, Team, TeamMembership
from social.models import Channel, Conversation, InboundEvent, Message
from social.services.channels import channel_create, channel_update_settings

BENCH = "bench: "
TEAM = "bench: Support"
TOKEN = "123456:bench-routing-token"  # noqa: S105 - the fake API accepts anything
AGENTS = 4


@dataclass
class Phase:
    label: str
    events: int
    seconds: float  # first post to everything routed (poll)
    stamped_seconds: float  # first post to the last routing run's created_at
    post_rate: float
    counts: dict[str, int]
    problems: list[str]
    web_cpu: float | None
    cluster_cpu: float | None
    database_cpu: float | None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class _FakeTelegram(BaseHTTPRequestHandler):
    sent = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with _FakeTelegram.lock:
            _FakeTelegram.sent += 1
            number = _FakeTelegram.sent
        body = json.dumps({"ok": True, "result": {"message_id": number}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=2_000, help="updates per phase (default 2000)")
    parser.add_argument("--senders", type=int, help="distinct chats (default: 30 %% of the events)")
    parser.add_argument("--broker", choices=("orm", "redis"), default="orm", help="task broker (default orm)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="the Redis broker's database")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (16)")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--q-workers", type=int, default=2, help="django-q worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give a phase up after (s)")
    parser.add_argument("--target-rate", type=float, default=500.0, help="routed messages/s (500)")
    parser.add_argument("--skip-baseline", action="store_true", help="the rules phase only")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="instead: N events stored, drained and routed in this "
        "process with the rules, half timed plainly, half under cProfile (queries and CPU per message, hot spots)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.events < 1 or args.q_workers < 1 or args.connections < 1:
        parser.error("--events, --q-workers and --connections must be at least 1")
    senders = args.senders or max(1, args.events * 3 // 10)
    if not 1 <= senders <= args.events:
        parser.error("--senders must be from 1 to --events")
    if connection.vendor != "postgresql":
        print(
            "This benchmark needs PostgreSQL. For example:\n  createdb -h 127.0.0.1 -U postgres scrm_routing_bench\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_routing_bench .venv/bin/python "
            "bench/routing_end_to_end.py",
            file=sys.stderr,
        )
        return 1
    if not _bench_lock_take():
        return 1
    if args.broker == "redis" and not _redis_ping(args.redis_url):
        print(f"Redis does not answer at {args.redis_url}; start it or use --broker orm.", file=sys.stderr)
        return 1
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    _forget()  # and VACUUM (ANALYZE): see _forget_bench_channels
    fake = ThreadingHTTPServer(("127.0.0.1", 0), _FakeTelegram)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    api_base = f"http://127.0.0.1:{fake.server_address[1]}"

    print(f"Database: PostgreSQL {connection.settings_dict['NAME']!r} ({_server_version()})")
    print(
        f"{args.events:,} updates from {senders:,} chats per phase; gunicorn {args.web_workers}x{args.web_threads} "
        f"gthread, {args.connections} connections; qcluster with Q_WORKERS={args.q_workers}, {args.broker} broker"
    )
    print(f"Load average before: {_load_average()}\n")
    if args.profile:
        try:
            _profile(args.profile, api_base)
        finally:
            fake.shutdown()
            _purge_queue("orm", args.redis_url)  # this process's tasks (its settings have no REDIS_URL)
            _forget()
        return 0
    log_dir = Path(tempfile.mkdtemp(prefix="scrm-routing-bench-"))
    phases = []
    try:
        if not args.skip_baseline:
            phases.append(_phase(args, "baseline: no rules", senders, api_base, log_dir, rules=False))
        phases.append(_phase(args, "rules: team + auto-reply", senders, api_base, log_dir, rules=True))
    finally:
        fake.shutdown()
        _forget()
    ok = all(not phase.problems for phase in phases)
    if ok:  # the logs are kept when something went wrong
        for path in log_dir.iterdir():
            path.unlink()
        log_dir.rmdir()
    print(f"Load average after: {_load_average()}" + ("\n" if ok else f"\nLogs: {log_dir}\n"))
    baseline = phases[0] if len(phases) > 1 else None
    for phase in phases:
        ratio = (
            f", {phase.rate / baseline.rate:.2f}x baseline"
            if baseline and baseline.rate and phase is not baseline
            else ""
        )
        verdict = (
            ""
            if phase is baseline
            else ("PASS  " if phase.rate >= args.target_rate and not phase.problems else "FAIL  ")
        )
        print(
            f"{verdict}{phase.label}: {phase.rate:.0f} msg/s end to end{ratio} "
            f"({phase.events:,} messages in {phase.seconds:.1f} s; target {args.target_rate:.0f})"
        )
    return 0 if ok else 1


def _forget() -> None:
    """This benchmark's channels (with their messages, conversations, runs), rules, team and agents."""
    _forget_bench_channels()
    Rule.objects.filter(name__startswith=BENCH).delete()
    Team.objects.filter(name__startswith=BENCH).delete()
    User.objects.filter(username__startswith="bench-routing-").delete()


def _set_up(*, rules: bool) -> None:
    Rule.objects.filter(name__startswith=BENCH).delete()
    if not rules:
        return
    team, _ = Team.objects.get_or_create(name=TEAM)
    if not team.memberships.exists():
        for n in range(AGENTS):
            user = User.objects.create_user(username=f"bench-routing-{n}", is_staff=True)
            agent = AgentProfile.objects.create(user=user, availability="online", capacity=30_000)
            TeamMembership.objects.create(team=team, agent=agent)
    for name, trigger, conditions, actions in (
        (
            "route and acknowledge",
            "conversation_created",
            {},
            [
                {"type": "assign_team", "team": team.pk},
                {"type": "reply", "template": "Hi {contact.first_name}, {team.name} will answer shortly."},
            ],
        ),
        (
            "billing words",
            "message_received",
            {"match": "all", "conditions": [{"field": "text", "op": "contains_any", "value": [
                "invoice", "refund", "bestellung", "pedido", "order"]}]},
            [{"type": "add_labels", "labels": ["billing"]}],
        ),
        (
            "angry customers",
            "message_received",
            {"match": "all", "conditions": [{"field": "sentiment", "op": "lt", "value": -0.5}]},
            [{"type": "set_priority", "priority": "high"}],
        ),
    ):  # fmt: skip
        rule = Rule(name=f"{BENCH}{name}", trigger=trigger, conditions=conditions, actions=actions)
        rule.full_clean()
        rule.save()


def _wait_ready(log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and "running" in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise SystemExit(f"qcluster did not start within {timeout:.0f} s; see {log}")


def _phase(args: argparse.Namespace, label: str, senders: int, api_base: str, log_dir: Path, *, rules: bool) -> Phase:
    _set_up(rules=rules)
    _purge_queue(args.broker, args.redis_url)
    _task_results_trim()
    tag = "rules" if rules else "baseline"
    channel = channel_create(kind=Channel.Kind.TELEGRAM, name=f"{CHANNEL_PREFIX}routing {tag}")
    channel = channel_update_settings(channel=channel, values={"bot_token": TOKEN, "api_base": api_base})
    updates = _realistic_updates(args.events, senders, seed=11)
    headers = {SECRET_HEADER: channel.secret("webhook_secret")}
    redis_url = args.redis_url if args.broker == "redis" else ""
    env = _child_env("config.settings", redis_url) | {"Q_WORKERS": str(args.q_workers)}
    cluster_log = log_dir / f"qcluster-{tag}.log"
    print(f"{label}: starting")
    with (
        _gunicorn(args, log_dir, tag, settings_module="config.settings", redis_url=redis_url) as web,
        _child([sys.executable, "manage.py", "qcluster"], env, cluster_log) as cluster,
    ):
        _wait_ready(cluster_log)
        web_before, cluster_before = _group_cpu_seconds(web.pid), _group_cpu_seconds(cluster.pid)
        database_before = _database_cpu()
        database_seen: dict[int, float] = {}
        started_at = timezone.now()
        started = time.perf_counter()
        posted = _load(web, label, _webhook_path(channel), updates, args, headers=headers)
        web_after = _group_cpu_seconds(web.pid)
        timed_out, polls = False, 0
        while True:
            if polls % 5 == 0:
                database_seen.update(_database_cpu())
            polls += 1
            if _done(channel, args.events, senders, rules=rules):
                break
            if time.perf_counter() - started > args.timeout:
                timed_out = True
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        cluster_after = _group_cpu_seconds(cluster.pid)
        database_seen.update(_database_cpu())
    last_run = RoutingRun.objects.filter(message__channel=channel).aggregate(at=Max("created_at"))["at"]
    counts, problems = _counts(channel, args.events, senders, rules=rules)
    if not posted.all_2xx:
        problems.append(f"webhook answers: {dict(posted.statuses)} {dict(posted.errors)}")
    if timed_out:
        problems.append(f"gave up after {args.timeout:.0f} s")
    phase = Phase(
        label=label,
        events=args.events,
        seconds=seconds,
        stamped_seconds=(last_run - started_at).total_seconds() if last_run else float("nan"),
        post_rate=posted.rate,
        counts=counts,
        problems=problems,
        web_cpu=None if web_before is None or web_after is None else web_after - web_before,
        cluster_cpu=None if cluster_before is None or cluster_after is None else cluster_after - cluster_before,
        database_cpu=_cpu_delta(database_before, database_seen),
    )
    _report(phase)
    _purge_queue(args.broker, args.redis_url)
    _forget_bench_channels()
    return phase


def _profile(count: int, api_base: str) -> None:
    """``--profile``: what one message costs from the drain to its routing run, without the queue and
    the web server: events stored directly, each half drained in batches and then routed batch by batch
    (as the ``route_messages`` tasks do), the second half under cProfile. Tasks the rules queue (the
    replies) go to the broker and are purged afterwards."""
    import cProfile
    import io
    import pstats

    from routing.tasks import route_messages
    from social import conf
    from social.services.inbound_batch import inbound_events_process

    _set_up(rules=True)
    channel = channel_create(kind=Channel.Kind.TELEGRAM, name=f"{CHANNEL_PREFIX}routing profile")
    channel = channel_update_settings(channel=channel, values={"bot_token": TOKEN, "api_base": api_base})
    updates = _realistic_updates(count, max(1, count * 3 // 10), seed=11)
    ids = _store_updates(channel, updates)
    size = conf.drain_batch()
    queries = 0
    statements: Counter[str] = Counter()

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal queries
        queries += 1
        statements[re.sub(r"\s+", " ", sql)[:90]] += 1
        return execute(sql, params, many, context)

    def run(part: list[int]) -> None:
        for start in range(0, len(part), size):
            batch = part[start : start + size]
            inbound_events_process(event_ids=batch)
            route_messages(*Message.objects.filter(
                channel=channel, direction=Message.Direction.INBOUND, routing_runs__isnull=True
            ).order_by("pk").values_list("pk", flat=True))  # fmt: skip

    run(ids[:1])  # loads the language model and compiles the rules
    half = ids[1 : len(ids) // 2]
    cpu, started = time.process_time(), time.perf_counter()
    with connection.execute_wrapper(counted):
        run(half)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"Profile: {len(half):,} events drained and routed in this process: {len(half) / seconds:.0f} msg/s, "
        f"{queries / len(half):.1f} queries/message, CPU {cpu / len(half) * 1000:.2f} ms/message here"
    )
    print("Statements per message (the most frequent):")
    for statement, count in statements.most_common(25):
        print(f"  {count / len(half):5.2f}  {statement}")
    profiler = cProfile.Profile()
    profiler.enable()
    run(ids[len(ids) // 2 :])
    profiler.disable()
    for order, lines in (("cumulative", 40), ("tottime", 25)):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(order).print_stats(lines)
        print(stream.getvalue().strip() + "\n")


def _done(channel: Channel, events: int, senders: int, *, rules: bool) -> bool:
    if RoutingRun.objects.filter(message__channel=channel).count() < events:
        return False
    if not rules:
        return True
    conversations = Conversation.objects.filter(channel=channel)
    replies = Message.objects.filter(channel=channel, direction="out", sender_type="system").count()
    return conversations.filter(assignee__isnull=False).count() >= senders and replies >= senders


def _counts(channel: Channel, events: int, senders: int, *, rules: bool) -> tuple[dict[str, int], list[str]]:
    runs = RoutingRun.objects.filter(message__channel=channel)
    counts = {
        "events stored": InboundEvent.objects.filter(channel=channel).count(),
        "events processed": InboundEvent.objects.filter(channel=channel, status="processed").count(),
        "inbound messages": Message.objects.filter(channel=channel, direction="in").count(),
        "routing runs": runs.count(),
        "failed actions": runs.aggregate(n=Sum("actions_failed"))["n"] or 0,
        "conversations": Conversation.objects.filter(channel=channel).count(),
        "conversations assigned": Conversation.objects.filter(channel=channel, assignee__isnull=False).count(),
        "auto-replies queued": Message.objects.filter(channel=channel, direction="out", sender_type="system").count(),
        "auto-replies sent": Message.objects.filter(channel=channel, direction="out", status="sent").count(),
    }
    expected = {
        "events stored": events,
        "events processed": events,
        "inbound messages": events,
        "routing runs": events,
        "failed actions": 0,
        "conversations": senders,
        "conversations assigned": senders if rules else 0,
        "auto-replies queued": senders if rules else 0,
    }
    problems = [
        f"{name}: {counts[name]:,}, expected {want:,}" for name, want in expected.items() if counts[name] != want
    ]
    return counts, problems


def _report(phase: Phase) -> None:
    def per_message(cpu: float | None) -> str:
        return f"{cpu / phase.events * 1000:.2f} ms" if cpu is not None else "?"

    print(
        f"  {phase.events:,} messages routed in {phase.seconds:.1f} s = {phase.rate:.0f} msg/s end to end "
        f"(last routing run stamped {phase.stamped_seconds:.1f} s after the first post); "
        f"webhooks posted at {phase.post_rate:.0f} req/s while the workers ran"
    )
    print(
        f"  CPU per message: gunicorn {per_message(phase.web_cpu)}, cluster {per_message(phase.cluster_cpu)}, "
        f"PostgreSQL {per_message(phase.database_cpu)}"
    )
    print("  counts: " + ", ".join(f"{name} {value:,}" for name, value in phase.counts.items()))
    for problem in phase.problems:
        print(f"  PROBLEM: {problem}")
    print()


if __name__ == "__main__":
    sys.exit(main())
