"""Channel webhooks under load: ingest (gunicorn, acknowledgement latency) and processing (two task workers).

    createdb -h 127.0.0.1 -U postgres scrm_webhook_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_webhook_bench .venv/bin/python bench/webhook_ingest.py
    ... --requests 20000 --connections 16 --events 5000 --brokers redis,orm --redis-url redis://127.0.0.1:6379/14

Steps:

1. Refuse SQLite; migrate the database (and create the cache table); forget the channels, messages and
   contacts of earlier runs (channels named ``bench: webhook …``); create the baseline's table.
2. Baselines: gunicorn (``--web-workers`` 4 gthread workers x ``--web-threads`` 4 threads, app preloaded, on a
   free loopback port) serving ``bench.baseline_settings`` (the project's settings with another URL conf),
   whose one view inserts the request body as one row; and the same view answered before the session,
   auth, CSRF and audit middleware (``bench.baseline_bare_settings``), where ``social.middleware`` answers
   the webhooks. The verdict compares with the first (the project's stack, as the bench always has); the
   second ratio says how much the webhook's own work (signature, parsing, de-duplication key, indexes) costs
   beyond a bare insert. The load generator (asyncio, raw HTTP/1.1, one
   keep-alive connection per concurrent client, requests built before the clock starts) sends ``--warmup``
   untimed requests, then ``--requests`` timed ones over ``--connections`` connections.
3. Ingest, once per broker in ``--brokers``: gunicorn serving the project (``config.wsgi``) with the task
   queue on that broker (``redis``: ``--redis-url``; ``orm``: django-q's database broker); a new Telegram
   channel; the same requests, now Telegram updates (unique ``update_id``) signed with the channel's
   secret token (the cheapest signature for the generator: a header; the server still compares it with
   the channel's decrypted credentials, kept per process with the channel for
   ``SOCIAL_CHANNEL_CACHE_SECONDS``). Every answer must be 2xx; afterwards the stored events are counted
   (none lost), all must still be pending (nothing processed in the request) and the queue must hold a
   drain task (the webhooks' drain requests are coalesced: at least one task, never more than events).
   Then the queue and the drain request are cleared and the channel forgotten. All servers run at once and take
   turns: ``--rounds`` (4) rounds of baseline, then each ingest, so that other work on the machine (and its
   changes) weighs on all of them alike.
4. Processing, once per broker: ``--events`` updates from ``--senders`` Telegram chats (every chat writes at
   least once, a few write a lot; texts in five languages, some photos with captions, some shared phone
   numbers) are delivered through the same server while no worker runs; the server stops, then
   ``manage.py qcluster`` starts with ``Q_WORKERS=2`` and the clock runs until no event is pending (django-q's
   table of task results is first trimmed to its ``save_limit``, as on a running site). Checked:
   every event processed, each claimed once (``attempts == 1``), one message per event, one identity and
   one conversation per chat.
5. ``--profile N`` (optional): N more events processed in this process, without the queue, under cProfile:
   the service's own rate, queries per message and where the time goes.

Figures: requests/s and p50/p95/p99 acknowledgement latency (nearest rank) for the baseline and each
ingest, the ratio ingest / baseline, and messages/s for processing, both from the worker's start (including
its start-up) and from the first processed message to the last (the rate a running worker sustains). Also
CPU time per request or message, from /proc: the gunicorn or qcluster processes, and the PostgreSQL backends
connected to the database (when PostgreSQL runs on this machine). It holds better than the rates when other
work shares the machine, and says what the machine could do with its cores to itself.

PASS/FAIL: ingest at least ``--target-ratio`` (0.8) x baseline with p99 under ``--target-p99-ms`` (50);
processing at least ``--target-rate`` (500) messages/s, sustained rate. The exit code is 0 when every
request was answered 2xx and every check held (pass or fail: the figures are the output); 1 otherwise.

The load generator runs in this process, on the same machine: its CPU time is printed, and on a 2-core
machine it takes a share the server does not get (the baseline's share too).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: static files are not collected here

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Max, Min  # noqa: E402

from crm.models import Contact  # noqa: E402
from social.models import Channel, Conversation, Identity, InboundEvent, Message  # noqa: E402
from social.services.channels import channel_create  # noqa: E402

CHANNEL_PREFIX = "bench: webhook "
BASELINE_TABLE = "bench_baseline_hit"
BARE_BASELINE_TABLE = "bench_baseline_hit_bare"  # bench.baseline_bare_settings
BASELINE_PATH = "/bench/hit/"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
RUN_LOCK = 0x5C_4B_E7C4  # PostgreSQL advisory lock key: one run per database at a time
STOP_TIMEOUT = 15  # seconds a child gets to stop after SIGTERM before its process group is killed

TEXTS = (
    ("Hi, my order #{n} hasn't arrived yet. Can you check where it is?", None),
    ("Thanks a lot, that was really helpful!", None),
    ("The app keeps crashing when I open the invoice page. Terrible experience.", None),
    ("Do you ship to Canada? And how long does it usually take?", None),
    ("ok", None),
    ("Hallo, ich möchte meine Bestellung {n} stornieren. Wie geht das?", None),
    ("Vielen Dank für die schnelle Antwort, das hat geklappt.", None),
    ("Die Lieferung ist beschädigt angekommen, bitte um Ersatz.", None),
    ("Hola, ¿tienen este producto en color azul? Gracias.", None),
    ("Mi pedido {n} llegó incompleto, falta una pieza.", None),
    ("Bonjour, je n'arrive pas à me connecter à mon compte depuis hier.", None),
    ("Merci beaucoup, tout fonctionne parfaitement maintenant !", None),
    ("Olá, gostaria de saber o prazo de entrega para Lisboa.", None),
    ("Here is a photo of the damaged box", "photo"),
    ("Invoice attached, the amount is wrong", "document"),
    ("👍", None),
    ("Can I talk to a human please? This bot is not answering my question about the refund for order {n}.", None),
)
FIRST_NAMES = ("Anna", "Ben", "Carla", "David", "Elif", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Kai", "Lea")
LAST_NAMES = ("Müller", "Smith", "García", "Dubois", "Rossi", "Silva", "Nowak", "Jensen", "", "")


@dataclass
class LoadResult:
    label: str
    seconds: float
    latencies: list[float]  # seconds, sorted
    statuses: Counter[int]
    errors: Counter[str]
    reconnects: int
    client_cpu: float
    server_cpu: float | None = None
    database_cpu: float | None = None

    @property
    def answered(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def all_2xx(self) -> bool:
        return not self.errors and all(200 <= status < 300 for status in self.statuses)

    def merged(self, other: LoadResult) -> LoadResult:
        """This run and ``other`` (a later round against the same server) as one."""
        return LoadResult(
            label=self.label,
            seconds=self.seconds + other.seconds,
            latencies=sorted(self.latencies + other.latencies),
            statuses=self.statuses + other.statuses,
            errors=self.errors + other.errors,
            reconnects=self.reconnects + other.reconnects,
            client_cpu=self.client_cpu + other.client_cpu,
            server_cpu=None
            if self.server_cpu is None or other.server_cpu is None
            else self.server_cpu + other.server_cpu,
            database_cpu=None
            if self.database_cpu is None or other.database_cpu is None
            else self.database_cpu + other.database_cpu,
        )

    def percentile_ms(self, percent: int) -> float:
        if not self.latencies:
            return float("nan")
        return self.latencies[max(0, -(-percent * len(self.latencies) // 100) - 1)] * 1000  # nearest rank


@dataclass
class ProcessResult:
    broker: str
    events: int
    senders: int
    wall_seconds: float
    startup_seconds: float  # worker start until the first message was processed
    sustained_seconds: float  # first processed message to the last
    statuses: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def wall_rate(self) -> float:
        return self.events / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def sustained_rate(self) -> float:
        return (self.events - 1) / self.sustained_seconds if self.sustained_seconds > 0 else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=20_000, help="timed requests per server (default 20000)")
    parser.add_argument("--warmup", type=int, default=500, help="untimed requests first (default 500)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (16)")
    parser.add_argument("--rounds", type=int, default=4, help="turns the servers take, interleaved (default 4)")
    parser.add_argument("--events", type=int, default=5_000, help="events to process per broker (default 5000)")
    parser.add_argument("--senders", type=int, help="distinct chats among the events (default: 30 %% of them)")
    parser.add_argument(
        "--brokers", default="redis,orm", help="task brokers to measure, comma-separated: redis, orm (both)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="the Redis broker's database")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker, gthread (4)")
    parser.add_argument("--q-workers", type=int, default=2, help="django-q worker processes (default 2)")
    parser.add_argument("--skip-ingest", action="store_true", help="processing only (no baseline, no ingest)")
    parser.add_argument("--skip-processing", action="store_true", help="baseline and ingest only")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile N events in this process")
    parser.add_argument("--process-timeout", type=float, default=300.0, help="give processing up after (s)")
    parser.add_argument("--target-ratio", type=float, default=0.8, help="ingest / baseline requests/s (0.8)")
    parser.add_argument("--target-p99-ms", type=float, default=50.0, help="ingest p99 acknowledgement (50)")
    parser.add_argument("--target-rate", type=float, default=500.0, help="processed messages/s (500)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' and workers' logs")
    args = parser.parse_args(argv)
    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    if not brokers or set(brokers) - {"redis", "orm"}:
        parser.error("--brokers: a comma-separated list of redis and orm")
    for name in ("requests", "connections", "rounds", "events", "web_workers", "web_threads", "q_workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    if connection.vendor != "postgresql":
        print(
            "This benchmark needs PostgreSQL (SQLite serialises every writer). For example:\n"
            "  createdb -h 127.0.0.1 -U postgres scrm_webhook_bench\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_webhook_bench .venv/bin/python "
            "bench/webhook_ingest.py",
            file=sys.stderr,
        )
        return 1
    if not _bench_lock_take():
        return 1
    if "redis" in brokers and not _redis_ping(args.redis_url):
        print(f"Redis does not answer at {args.redis_url}; start it or pass --brokers orm.", file=sys.stderr)
        return 1

    # SIGTERM ends the run like Ctrl-C: through the ``finally`` blocks that stop the servers and workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    _forget_bench_channels()  # and VACUUM (ANALYZE)
    _baseline_tables_create()

    print(f"Database: PostgreSQL {connection.settings_dict['NAME']!r} ({_server_version()})")
    print(
        f"Web server: gunicorn, {args.web_workers} gthread workers x {args.web_threads} threads; load: "
        f"{args.connections} keep-alive connections, {args.warmup} warm-up + {args.requests:,} timed requests "
        f"per server in {args.rounds} interleaved rounds"
    )
    print(f"Load average before: {_load_average()}\n")

    ok = True
    verdicts: list[str] = []
    log_dir = Path(tempfile.mkdtemp(prefix="scrm-webhook-bench-"))
    try:
        if not args.skip_ingest:
            ok &= _ingest_phase(args, brokers, log_dir, verdicts)
        if not args.skip_processing:
            for broker in brokers:
                ok &= _processing_phase(args, broker, log_dir, verdicts)
        if args.profile:
            _profile(args.profile)
    finally:
        if not args.keep_logs and ok:
            for path in log_dir.iterdir():
                path.unlink()
            log_dir.rmdir()
        else:
            print(f"\nLogs of the servers and workers: {log_dir}")

    print(f"\nLoad average after: {_load_average()}")
    if verdicts:
        print("\n" + "\n".join(verdicts))
    return 0 if ok else 1


# --- Phases ------------------------------------------------------------------------------------------


def _ingest_phase(args: argparse.Namespace, brokers: list[str], log_dir: Path, verdicts: list[str]) -> bool:
    """Steps 2 and 3. Every server starts at once and they are driven in turn, ``--rounds`` times (baseline,
    then the webhook on each broker), so that other work on the machine weighs on all of them alike."""
    ok = True
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {BASELINE_TABLE}, {BARE_BASELINE_TABLE}")
    updates = [_update(i, chat=100_000 + i % 997, message_id=i) for i in range(1, args.warmup + args.requests + 1)]
    bodies = [json.dumps(update).encode() for update in updates]  # before the clock starts
    targets: list[_Target] = []
    with ExitStack() as servers:
        web = servers.enter_context(
            _gunicorn(args, log_dir, "baseline", settings_module="bench.baseline_settings", redis_url="")
        )
        requests = [_request(web.port, BASELINE_PATH, body, {}) for body in bodies]
        targets.append(_Target(label="baseline: insert one row", web=web, requests=requests))
        web = servers.enter_context(
            _gunicorn(args, log_dir, "baseline-bare", settings_module="bench.baseline_bare_settings", redis_url="")
        )
        requests = [_request(web.port, BASELINE_PATH, body, {}) for body in bodies]
        targets.append(_Target(label="baseline before the middleware", web=web, requests=requests))
        for broker in brokers:
            _purge_queue(broker, args.redis_url)
            channel = channel_create(kind=Channel.Kind.TELEGRAM, name=f"{CHANNEL_PREFIX}ingest ({broker})")
            headers = {SECRET_HEADER: channel.secret("webhook_secret")}
            redis_url = args.redis_url if broker == "redis" else ""
            web = servers.enter_context(
                _gunicorn(args, log_dir, f"ingest-{broker}", settings_module="config.settings", redis_url=redis_url)
            )
            requests = [_request(web.port, _webhook_path(channel), body, headers) for body in bodies]
            targets.append(
                _Target(label=f"ingest, {broker} broker", web=web, requests=requests, broker=broker, channel=channel)
            )
        for target in targets:
            warm = asyncio.run(_drive(target.web.port, target.requests[: args.warmup], args.connections, target.label))
            if not warm.all_2xx:
                print(f"{target.label}: warm-up failed: {dict(warm.statuses)} {dict(warm.errors)}", file=sys.stderr)
                return False
        chunk = -(-args.requests // args.rounds)
        for start in range(args.warmup, args.warmup + args.requests, chunk):
            for target in targets:
                part = _timed(target.web, target.label, target.requests[start : start + chunk], args.connections)
                target.result = part if target.result is None else target.result.merged(part)

    expected = args.warmup + args.requests
    baseline, bare = targets[0].result, targets[1].result
    assert baseline is not None and bare is not None  # noqa: S101 - set by the loop above
    for result, table in ((baseline, BASELINE_TABLE), (bare, BARE_BASELINE_TABLE)):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")
            stored = cursor.fetchone()[0]
        ok &= _report_load(result, stored=stored, expected=expected)
    for target in targets[2:]:
        assert target.result is not None and target.channel is not None  # noqa: S101 - set above
        events = InboundEvent.objects.filter(channel=target.channel)
        stored = events.count()
        ok &= _report_load(target.result, stored=stored, expected=expected, baseline=baseline)
        pending = events.filter(status=InboundEvent.Status.PENDING).count()
        queued = _queue_size(target.broker, args.redis_url)
        print(
            f"  events pending after the run: {pending:,} of {stored:,}; tasks in the {target.broker} queue: "
            f"{queued:,}\n"
        )
        if pending != stored or not 1 <= queued <= stored:
            print("  FAIL: every stored event must be pending, with a drain task queued", file=sys.stderr)
            ok = False
        _purge_queue(target.broker, args.redis_url)
        result = target.result
        ratio = result.rate / baseline.rate if baseline.rate else 0.0
        p99 = result.percentile_ms(99)
        bare_ratio = result.rate / bare.rate if bare.rate else 0.0
        passed = ratio >= args.target_ratio and p99 < args.target_p99_ms and result.all_2xx
        verdicts.append(
            f"{'PASS' if passed else 'FAIL'}  {result.label:<26} {result.rate:7.0f} req/s = {ratio:.2f}x baseline "
            f"({baseline.rate:.0f} req/s; target {args.target_ratio}x), p99 {p99:.1f} ms "
            f"(target < {args.target_p99_ms:.0f} ms); {bare_ratio:.2f}x the baseline before the middleware "
            f"({bare.rate:.0f} req/s)"
        )
    _forget_bench_channels()
    return ok


def _processing_phase(args: argparse.Namespace, broker: str, log_dir: Path, verdicts: list[str]) -> bool:
    """Step 4: deliver ``--events`` realistic updates with no worker running, then time two workers."""
    senders = args.senders or max(1, args.events * 3 // 10)
    redis_url = args.redis_url if broker == "redis" else ""
    _purge_queue(broker, args.redis_url)
    channel = channel_create(kind=Channel.Kind.TELEGRAM, name=f"{CHANNEL_PREFIX}processing ({broker})")
    updates = _realistic_updates(args.events, senders, seed=len(broker))
    headers = {SECRET_HEADER: channel.secret("webhook_secret")}
    print(f"Processing, {broker} broker: {args.events:,} events from {senders:,} chats, {args.q_workers} workers")
    with _gunicorn(args, log_dir, f"deliver-{broker}", settings_module="config.settings", redis_url=redis_url) as web:
        delivered = _load(web, f"delivery, {broker} broker", _webhook_path(channel), updates, args, headers=headers)
    if not delivered.all_2xx or InboundEvent.objects.filter(channel=channel).count() != args.events:
        print(f"  delivery failed: {dict(delivered.statuses)} {dict(delivered.errors)}", file=sys.stderr)
        return False
    queued = _queue_size(broker, args.redis_url)
    print(f"  delivered through the webhook: {delivered.rate:.0f} req/s; queued tasks: {queued:,}")

    _task_results_trim()
    events = InboundEvent.objects.filter(channel=channel)
    env = _child_env("config.settings", redis_url) | {"Q_WORKERS": str(args.q_workers)}
    started = time.perf_counter()
    first_done: float | None = None
    database_before = _database_cpu()
    # Backends come and go (django-q replaces a worker after 500 tasks, and its connection with it): the
    # last reading of each one is kept, taken every few polls.
    database_seen: dict[int, float] = {}
    polls = 0
    timed_out = False
    with _child([sys.executable, "manage.py", "qcluster"], env, log_dir / f"qcluster-{broker}.log") as cluster:
        while True:
            if polls % 3 == 0:
                database_seen.update(_database_cpu())
            polls += 1
            pending = events.filter(status=InboundEvent.Status.PENDING).count()
            now = time.perf_counter()
            if first_done is None and pending < args.events:
                first_done = now
            if pending == 0:
                break
            if now - started > args.process_timeout:
                timed_out = True
                break
            if cluster.poll() is not None:
                print(f"  the worker stopped (exit status {cluster.returncode})", file=sys.stderr)
                return False
            time.sleep(0.1)
        wall = time.perf_counter() - started
        database_seen.update(_database_cpu())
        worker_cpu, database_cpu = _group_cpu_seconds(cluster.pid), _cpu_delta(database_before, database_seen)
    bounds = events.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    done = events.exclude(status=InboundEvent.Status.PENDING).count()
    sustained = (bounds["last"] - bounds["first"]).total_seconds() if bounds["first"] and bounds["last"] else 0.0
    result = ProcessResult(
        broker=broker,
        events=done,
        senders=senders,
        wall_seconds=wall,
        startup_seconds=(first_done or started) - started,
        sustained_seconds=sustained,
        statuses=dict(events.values_list("status").annotate(n=Count("id")).order_by()),
    )
    result.problems = _processing_problems(channel, args.events, senders, timed_out=timed_out)
    print(
        f"  {done:,} events in {wall:.1f} s from the worker's start: {result.wall_rate:.0f} msg/s "
        f"(first message after {result.startup_seconds:.1f} s; first to last processed: "
        f"{result.sustained_seconds:.1f} s, {result.sustained_rate:.0f} msg/s)"
    )
    if worker_cpu is not None and database_cpu is not None and done:
        per_message = (worker_cpu + database_cpu) / done * 1000
        print(
            f"  CPU: qcluster processes {worker_cpu / done * 1000:.2f} ms/message, database "
            f"{database_cpu / done * 1000:.2f} ms/message; {os.cpu_count()} idle cores would allow at most "
            f"{(os.cpu_count() or 1) * 1000 / per_message:.0f} msg/s"
        )
    print(f"  statuses: {result.statuses}")
    for problem in result.problems:
        print(f"  FAIL: {problem}", file=sys.stderr)
    print()
    passed = result.sustained_rate >= args.target_rate and not result.problems
    label = f"processing, {broker} broker"
    verdicts.append(
        f"{'PASS' if passed else 'FAIL'}  {label:<26} {result.sustained_rate:7.0f} msg/s sustained "
        f"({result.wall_rate:.0f} msg/s from the worker's start; target {args.target_rate:.0f}), "
        f"{args.q_workers} workers, {done:,} events"
    )
    _purge_queue(broker, args.redis_url)
    _forget_bench_channels()
    return not result.problems


def _processing_problems(channel: Channel, events: int, senders: int, *, timed_out: bool) -> list[str]:
    """What the checks of step 4 found wrong (empty: every event processed exactly once)."""
    problems = []
    stored = InboundEvent.objects.filter(channel=channel)
    if timed_out:
        problems.append(f"gave up with {stored.filter(status=InboundEvent.Status.PENDING).count():,} events pending")
    not_processed = stored.exclude(status=InboundEvent.Status.PROCESSED).count()
    if not_processed:
        problems.append(f"{not_processed:,} events not processed")
    claimed_twice = stored.exclude(attempts=1).count()
    if claimed_twice:
        problems.append(f"{claimed_twice:,} events with attempts != 1")
    messages = Message.objects.filter(channel=channel)
    count = messages.count()
    distinct = messages.values("provider_message_id").distinct().count()
    if count != events or distinct != events:
        problems.append(f"{count:,} messages ({distinct:,} distinct) for {events:,} events")
    identities = Identity.objects.filter(channel=channel).count()
    conversations = Conversation.objects.filter(channel=channel).count()
    if identities != senders or conversations != senders:
        problems.append(f"{identities:,} identities and {conversations:,} conversations for {senders:,} chats")
    return problems


def _store_updates(channel: Channel, updates: list[dict[str, Any]]) -> list[int]:
    """The updates stored as pending events of ``channel`` (what the webhook stores), without a task; their ids."""
    InboundEvent.objects.bulk_create(
        InboundEvent(
            channel=channel,
            provider_event_id=f"update:{update['update_id']}",
            body=json.dumps(update).encode(),
            content_type="application/json",
            headers={"content-type": "application/json"},
        )
        for update in updates
    )
    return list(InboundEvent.objects.filter(channel=channel).order_by("pk").values_list("pk", flat=True))


def _profile(count: int) -> None:
    """Step 5: the service alone, in this process, under cProfile: rate, queries per message, hot spots.
    Events are processed in the drain's batches (``SOCIAL_DRAIN_BATCH``), without claiming them."""
    from social import conf
    from social.services.inbound_batch import inbound_events_process

    channel = channel_create(kind=Channel.Kind.TELEGRAM, name=f"{CHANNEL_PREFIX}profile")
    updates = _realistic_updates(count, max(1, count * 3 // 10), seed=7)
    ids = _store_updates(channel, updates)  # as the webhook stores them, without a task: this process runs them
    inbound_events_process(event_ids=ids[:1])  # loads the language model (once per process)
    size = conf.drain_batch()

    def batches(part: list[int]) -> Iterator[list[int]]:
        return (part[start : start + size] for start in range(0, len(part), size))

    queries = 0

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    backend_cpu, cpu = _process_cpu_seconds(backend), time.process_time()
    started = time.perf_counter()
    with connection.execute_wrapper(counted):
        for batch in batches(ids[1 : len(ids) // 2]):  # without the profiler: the real rate
            inbound_events_process(event_ids=batch)
    plain = len(ids) // 2 - 1
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    backend_after = _process_cpu_seconds(backend)
    database = f"{(backend_after - backend_cpu) / plain * 1000:.2f}" if backend_cpu and backend_after else "?"
    print(f"Profile: {len(ids) - 1:,} events processed in this process, without the queue")
    print(
        f"  {plain:,} plain: {plain / seconds:.0f} msg/s, {queries / plain:.1f} queries/message, "
        f"CPU {cpu / plain * 1000:.2f} ms/message here + {database} ms in the database"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    for batch in batches(ids[len(ids) // 2 :]):
        inbound_events_process(event_ids=batch)
    profiler.disable()
    print(f"  {len(ids) - len(ids) // 2:,} under cProfile (slower: it times every Python call):")
    for order, lines in (("cumulative", 30), ("tottime", 20)):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(order).print_stats(lines)
        print(stream.getvalue().strip() + "\n")
    _forget_bench_channels()


# --- Load generator ----------------------------------------------------------------------------------


@dataclass
class _Server:
    port: int
    pid: int


@dataclass
class _Target:
    label: str
    web: _Server
    requests: list[bytes]
    broker: str = ""
    channel: Channel | None = None
    result: LoadResult | None = None


def _load(
    web: _Server,
    label: str,
    path: str,
    updates: list[dict[str, Any]],
    args: argparse.Namespace,
    *,
    headers: dict[str, str],
) -> LoadResult:
    """Send ``updates`` to one server, timed (the requests are built before the clock starts)."""
    requests = [_request(web.port, path, json.dumps(update).encode(), headers) for update in updates]
    return _timed(web, label, requests, args.connections)


def _timed(web: _Server, label: str, requests: list[bytes], connections: int) -> LoadResult:
    server_before, database_before = _group_cpu_seconds(web.pid), _database_cpu()
    result = asyncio.run(_drive(web.port, requests, connections, label))
    server_after, database_after = _group_cpu_seconds(web.pid), _database_cpu()
    if server_before is not None and server_after is not None:
        result.server_cpu = server_after - server_before
    result.database_cpu = _cpu_delta(database_before, database_after)
    return result


def _request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "User-Agent: scrm-webhook-bench",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _drive(port: int, requests: list[bytes], connections: int, label: str) -> LoadResult:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    reconnects = 0
    pending = iter(requests)

    async def client() -> None:
        nonlocal reconnects
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        for request in pending:  # shared by every client: each request is sent once
            try:
                if reader is None or writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                started = time.perf_counter()
                writer.write(request)
                await writer.drain()
                status, keep_alive = await _response(reader)
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                keep_alive = False
            if not keep_alive and writer is not None:
                writer.close()
                reader = writer = None
                reconnects += 1
        if writer is not None:
            writer.close()

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    seconds = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        label=label,
        seconds=seconds,
        latencies=latencies,
        statuses=statuses,
        errors=errors,
        reconnects=reconnects,
        client_cpu=time.process_time() - cpu,
    )


async def _response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; returns (status, whether the connection stays open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head[:-4].split(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length, keep_alive = 0, True
    for line in header_lines:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            keep_alive = value.strip().lower() != b"close"
        elif name == b"transfer-encoding":
            raise ValueError("chunked responses are not expected here")
    if length:
        await reader.readexactly(length)
    return status, keep_alive


def _report_load(result: LoadResult, *, stored: int, expected: int, baseline: LoadResult | None = None) -> bool:
    ratio = f", {result.rate / baseline.rate:.2f}x baseline" if baseline and baseline.rate else ""
    print(result.label)
    print(
        f"  {result.answered:,} requests in {result.seconds:.1f} s: {result.rate:.0f} req/s{ratio}; "
        f"latency p50 {result.percentile_ms(50):.1f} ms, p95 {result.percentile_ms(95):.1f} ms, "
        f"p99 {result.percentile_ms(99):.1f} ms, max {result.percentile_ms(100):.1f} ms"
    )
    server = "unknown"
    if result.server_cpu:
        server = f"{result.server_cpu / result.answered * 1000:.2f} ms/request"
        if baseline is not None and baseline.server_cpu:
            # Holds better than req/s when other work shares the machine: CPU time is not waiting time.
            server += (
                f" ({result.server_cpu / result.answered / (baseline.server_cpu / baseline.answered):.1f}x baseline)"
            )
    if result.database_cpu is not None:
        server += f"; database {result.database_cpu / result.answered * 1000:.2f} ms/request"
    print(f"  answers {dict(sorted(result.statuses.items()))}; reconnects {result.reconnects}")
    print(
        f"  CPU: server {server}; load generator {result.client_cpu:.1f} s "
        f"({result.client_cpu / result.seconds:.0%} of one core)"
    )
    print(f"  rows stored: {stored:,} of {expected:,} (warm-up included)")
    ok = result.all_2xx and stored == expected
    if result.errors:
        print(f"  errors: {dict(result.errors)}", file=sys.stderr)
    if not ok:
        print("  FAIL: every request must be answered 2xx and stored once", file=sys.stderr)
    if baseline is None:
        print()
    return ok


# --- Payloads ----------------------------------------------------------------------------------------


def _update(update_id: int, *, chat: int, message_id: int, rng: random.Random | None = None) -> dict[str, Any]:
    """A Telegram update as the Bot API delivers it (a private chat: the chat id is the user id)."""
    rng = rng or random.Random(update_id)
    first, last = FIRST_NAMES[chat % len(FIRST_NAMES)], LAST_NAMES[chat // 7 % len(LAST_NAMES)]  # one per chat
    text, attachment = rng.choice(TEXTS)
    sender: dict[str, Any] = {"id": chat, "is_bot": False, "first_name": first, "language_code": "en"}
    if last:
        sender["last_name"] = last
    if chat % 3:
        sender["username"] = f"{first.lower()}{chat}"
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": sender,
        "chat": {"id": chat, "first_name": first, "type": "private"},
        "date": 1_790_000_000 + update_id,
    }
    body = text.format(n=40_000 + update_id)
    if attachment == "photo":
        message["photo"] = [
            {"file_id": f"AgAC{update_id}s", "file_unique_id": f"u{update_id}s", "width": 90, "height": 67},
            {"file_id": f"AgAC{update_id}m", "file_unique_id": f"u{update_id}m", "width": 1280, "height": 960},
        ]
        message["caption"] = body
    elif attachment == "document":
        message["document"] = {
            "file_id": f"BQAC{update_id}",
            "file_name": "invoice.pdf",
            "mime_type": "application/pdf",
            "file_size": 48_213,
        }
        message["caption"] = body
    else:
        message["text"] = body
    return {"update_id": update_id, "message": message}


def _realistic_updates(events: int, senders: int, *, seed: int) -> list[dict[str, Any]]:
    """Every chat writes once, the remaining messages go mostly to a few talkative chats (Zipf-like);
    one chat in 25 shares its own phone number with its first message."""
    rng = random.Random(seed)
    chats = [500_000_000 + rng.randrange(10**8) * 10 + i % 10 for i in range(senders)]
    chats = list(dict.fromkeys(chats))
    while len(chats) < senders:
        chats.append(chats[-1] + 1)
    weights = [1 / (rank + 1) for rank in range(senders)]
    order = list(chats) + rng.choices(chats, weights=weights, k=max(0, events - senders))
    rng.shuffle(order)
    message_ids: Counter[int] = Counter()
    updates = []
    for update_id, chat in enumerate(order[:events], start=1):
        message_ids[chat] += 1
        update = _update(update_id, chat=chat, message_id=message_ids[chat], rng=rng)
        if message_ids[chat] == 1 and chat % 25 == 0:
            update["message"]["contact"] = {
                "phone_number": f"+49 30 {2_000_000 + chat % 7_000_000}",
                "first_name": update["message"]["from"]["first_name"],
                "user_id": chat,
            }
        updates.append(update)
    return updates


def _webhook_path(channel: Channel) -> str:
    return f"/webhooks/{channel.webhook_key}/"


# --- Child processes ---------------------------------------------------------------------------------


def _child_env(settings_module: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    env["DEBUG"] = "false"  # DEBUG keeps every query in memory
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@contextmanager
def _child(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` in its own process group; on leaving (normally, on an error or on Ctrl-C) stop it
    with SIGTERM and, after ``STOP_TIMEOUT``, kill what is left of its group."""
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(f"{command[-1]} still busy {STOP_TIMEOUT} s after SIGTERM; killed", file=sys.stderr)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # its workers, if any outlived it
        process.wait()


@contextmanager
def _gunicorn(
    args: argparse.Namespace, log_dir: Path, name: str, *, settings_module: str, redis_url: str
) -> Iterator[_Server]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.web_workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.web_threads),
        "--keep-alive",
        "10",
        # Load the app before the workers fork: they answer as soon as the port accepts connections,
        # instead of importing Django while the first requests (or the timed ones) wait.
        "--preload",
        "--log-level",
        "warning",
        "config.wsgi:application",
    ]
    log = log_dir / f"gunicorn-{name}.log"
    with _child(command, _child_env(settings_module, redis_url), log) as process:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn ({name}) stopped at start-up; see {log}:\n{log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn ({name}) did not listen within 30 s; see {log}") from None
                time.sleep(0.1)
        yield _Server(port=port, pid=process.pid)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_cpu() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to this database (but this one), by pid:
    the server runs on this machine in the set-up the benchmark is for; an empty dict when it does not."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids = [row[0] for row in cursor.fetchall()]
    return {pid: cpu for pid in pids if (cpu := _process_cpu_seconds(pid)) is not None}


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float | None:
    """CPU used between two ``_database_cpu`` readings by the backends alive at the second one."""
    if not after:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # not on this machine, ended, or no /proc
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _group_cpu_seconds(pgid: int) -> float | None:
    """CPU time of the process group (Linux /proc; None elsewhere): user + system time of every live member
    and of the children they have reaped (django-q's sentinel replaces workers after 500 tasks)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp, …, utime, stime, cutime, cstime (11-14)
            total += sum(int(value) for value in fields[11:15])
    return total / ticks


# --- Database, queue ---------------------------------------------------------------------------------


def _bench_lock_take() -> bool:
    """Take the benchmarks' advisory lock, held by this connection until the run ends: one webhook or routing
    benchmark per database at a time (each deletes the others' ``bench: webhook …`` channels)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [RUN_LOCK])
        if cursor.fetchone()[0]:
            return True
    print("Another webhook or routing benchmark is using this database; wait for it to end.", file=sys.stderr)
    return False


def _baseline_tables_create() -> None:
    """The baselines' tables (``bench.baseline_urls``): one row per request, its raw body."""
    with connection.cursor() as cursor:
        for table in (BASELINE_TABLE, BARE_BASELINE_TABLE):
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table} "
                "(id bigserial PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now(), body bytea NOT NULL)"
            )


def _forget_bench_channels() -> None:
    """Delete this benchmark's channels with their events, messages, conversations, identities and the
    contacts those identities created (earlier runs too: a run stopped half-way leaves them behind)."""
    channels = Channel.objects.filter(name__startswith=CHANNEL_PREFIX)
    contacts = list(Identity.objects.filter(channel__in=channels).values_list("contact_id", flat=True))
    Message.objects.filter(channel__in=channels).delete()
    Conversation.objects.filter(channel__in=channels).delete()
    channels.delete()  # identities and events go with it
    for start in range(0, len(contacts), 1000):
        Contact.objects.filter(pk__in=contacts[start : start + 1000], identities__isnull=True).delete()
    if not connection.in_atomic_block:
        # Where autovacuum is off (this machine's PostgreSQL), the rows of earlier runs stay as dead tuples
        # that every index scan steps over: each run would pay for the ones before it. Fresh statistics too.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")


def _task_results_trim() -> None:
    """Leave django-q's table of successful task results as a running site has it: the newest
    ``save_limit`` rows (250 by default). The worker prunes it by reading all of it after every task, so a
    table grown by earlier runs (or by ``save_limit: 0``) would make this run slower than production."""
    from django_q.conf import Conf
    from django_q.models import Success

    if Conf.SAVE_LIMIT > 0:
        keep = Success.objects.order_by("-stopped").values_list("pk", flat=True)[: Conf.SAVE_LIMIT]
        Success.objects.exclude(pk__in=list(keep)).delete()


def _queue_name() -> str:
    return str(settings.Q_CLUSTER["name"])


def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=5)


def _redis_ping(url: str) -> bool:
    try:
        return bool(_redis_client(url).ping())
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False


def _queue_size(broker: str, redis_url: str) -> int:
    if broker == "redis":
        return int(_redis_client(redis_url).llen(f"django_q:{_queue_name()}:q"))
    from django_q.models import OrmQ

    return OrmQ.objects.filter(key=_queue_name()).count()


def _purge_queue(broker: str, redis_url: str) -> None:
    """Empty the task queue, and forget the drain request that its drain task would have cleared (beside
    the queue with the Redis broker, in the database cache otherwise: ``social.services.queue``)."""
    from social.services.queue import DRAIN_FLAG

    flag = f":1:{DRAIN_FLAG}"  # Django's default cache key function: prefix "", version 1
    if broker == "redis":
        queue = f"django_q:{_queue_name()}:q"
        _redis_client(redis_url).delete(queue, f"{queue}:drain-requested")
    else:
        from django_q.models import OrmQ

        OrmQ.objects.filter(key=_queue_name()).delete()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM scrm_cache WHERE cache_key = %s", [flag])  # settings.CACHES


def _server_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        return f"{version}, synchronous_commit={cursor.fetchone()[0]}"


def _load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"
    except (AttributeError, OSError):  # not available on this platform
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
