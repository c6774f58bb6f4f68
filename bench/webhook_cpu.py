"""The webhook's CPU per request against the baseline's, in this process, through Django's WSGI handler.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_webhook_bench .venv/bin/python bench/webhook_cpu.py
    ... --requests 6000 --rounds 20 --profile 3000   [REDIS_URL=redis://127.0.0.1:6379/14: the Redis broker]

What ``bench/webhook_ingest.py`` measures under gunicorn, without the server, the network and the load
generator (which share the cores on a small machine): one ``WSGIHandler`` (the project's middleware, built
once as gunicorn's ``--preload`` builds it) is called with gunicorn-like environs, the response is read and
closed (``request_finished``: Django's end-of-request connection handling). The baseline is the same handler
with ``bench.baseline_urls`` as URL conf (``bench/baseline_settings.py``: its one view inserts the body as a
row); the webhook gets realistic Telegram updates (``_realistic_updates``) signed with a new channel's secret
token, the task queue on this process's broker (``REDIS_URL`` set: Redis; otherwise the database).

Both take turns (``--rounds``) after ``--warmup`` requests each. Printed: CPU ms per request of this process
(``time.process_time``) and of its PostgreSQL backend (from /proc, when the server runs on this machine), and
the ratio webhook / baseline (over the whole run, and the median of the rounds' ratios). ``--profile N``: N
more requests of each under cProfile, timed by CPU time (waiting for the database is left out; the profiler's
own cost inflates code that makes many small calls), the functions by own and by cumulative time, so that the
webhook's extra cost can be read off against the baseline's.

The figures are lower than gunicorn's (no HTTP parsing, no sockets, no thread hand-off) and a single client
waits on PostgreSQL for every statement, but both endpoints are measured alike: what one change saves shows.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ["DEBUG"] = "false"  # DEBUG keeps every query in memory
BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from django.conf import settings  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.webhook_ingest import (  # noqa: E402 - sets Django up
    BASELINE_PATH,
    BASELINE_TABLE,
    CHANNEL_PREFIX,
    SECRET_HEADER,
    _baseline_tables_create,
    _bench_lock_take,
    _forget_bench_channels,
    _process_cpu_seconds,
    _realistic_updates,
    _webhook_path,
)
from social.models import Channel, InboundEvent  # noqa: E402
from social.services.channels import channel_create  # noqa: E402

Environ = dict[str, Any]
PROJECT_URLCONF = settings.ROOT_URLCONF
BASELINE_URLCONF = "bench.baseline_urls"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=4_000, help="timed requests per endpoint (default 4000)")
    parser.add_argument("--warmup", type=int, default=300, help="untimed requests first (default 300)")
    parser.add_argument("--rounds", type=int, default=20, help="turns the endpoints take (default 20)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="N more of each under cProfile")
    parser.add_argument("--lines", type=int, default=35, help="functions listed per profile table (35)")
    args = parser.parse_args(argv)
    if connection.vendor != "postgresql":
        print("This benchmark needs PostgreSQL: set DATABASE_URL.", file=sys.stderr)
        return 1
    if not _bench_lock_take():  # webhook_ingest.py's lock: both forget "bench: webhook …" channels
        return 1
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    _baseline_tables_create()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {BASELINE_TABLE}")
    _forget_bench_channels()
    channel = channel_create(kind=Channel.Kind.TELEGRAM, name=f"{CHANNEL_PREFIX}cpu")
    total = args.warmup + args.requests + args.profile
    bodies = [json.dumps(update).encode() for update in _realistic_updates(total, max(1, total * 3 // 10), seed=11)]
    secret = {SECRET_HEADER: channel.secret("webhook_secret")}
    webhook = [_environ(_webhook_path(channel), body, secret) for body in bodies]
    baseline = [_environ(BASELINE_PATH, body, {}) for body in bodies]
    handler = WSGIHandler()
    broker = "redis" if settings.REDIS_URL else "orm"
    print(f"In-process CPU per request: {args.requests:,} timed requests each, {args.rounds} rounds, {broker} broker")
    try:
        _run(handler, baseline[: args.warmup], BASELINE_URLCONF)
        _run(handler, webhook[: args.warmup], PROJECT_URLCONF)
        # A full collection of Django's heap takes ~100 ms: landing in one side's turn it would tilt the ratio.
        gc.collect()
        gc.freeze()
        times = {"baseline": [0.0, 0.0], "webhook": [0.0, 0.0]}
        ratios = []
        chunk = -(-args.requests // args.rounds)
        for start in range(args.warmup, args.warmup + args.requests, chunk):
            turn = {}
            for label, environs, urlconf in (
                ("baseline", baseline, BASELINE_URLCONF),
                ("webhook", webhook, PROJECT_URLCONF),
            ):
                here, database = _timed(handler, environs[start : start + chunk], urlconf)
                times[label][0] += here
                times[label][1] += database
                turn[label] = here
            ratios.append(turn["webhook"] / turn["baseline"])
        for label, (here, database) in times.items():
            print(
                f"  {label:<9} {here / args.requests * 1000:.3f} ms/request here + "
                f"{database / args.requests * 1000:.3f} ms in the database"
            )
        ratio = times["webhook"][0] / times["baseline"][0]
        with_database = sum(times["webhook"]) / sum(times["baseline"])
        print(
            f"  webhook / baseline, this process: {ratio:.2f}x (median of the rounds "
            f"{statistics.median(ratios):.2f}x); with the database: {with_database:.2f}x"
        )
        stored = InboundEvent.objects.filter(channel=channel).count()
        if stored != args.warmup + args.requests:
            print(f"  FAIL: {stored} events stored, {args.warmup + args.requests} expected", file=sys.stderr)
            return 1
        if args.profile:
            start = args.warmup + args.requests
            for label, environs, urlconf in (
                ("baseline", baseline, BASELINE_URLCONF),
                ("webhook", webhook, PROJECT_URLCONF),
            ):
                _profile(handler, environs[start:], urlconf, label, args.lines)
    finally:
        _forget_bench_channels()
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {BASELINE_TABLE}")
    return 0


def _environ(path: str, body: bytes, headers: dict[str, str]) -> Environ:
    """What gunicorn's gthread worker hands Django for the benchmark's requests (``wsgi.input`` set per call)."""
    environ: Environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "RAW_URI": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_SOFTWARE": "gunicorn/23.0.0",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "scrm-webhook-bench",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.errors": sys.stderr,
        "body": body,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
    if not status.startswith("2"):
        raise AssertionError(f"answered {status}")
    return lambda _data: None


def _run(handler: WSGIHandler, environs: list[Environ], urlconf: str) -> None:
    settings.ROOT_URLCONF = urlconf  # the handler sets it per request; resolvers are cached per URL conf
    for environ in environs:
        request = dict(environ)
        request["wsgi.input"] = io.BytesIO(request.pop("body"))
        response = handler(request, _start_response)
        b"".join(response)
        response.close()
    settings.ROOT_URLCONF = PROJECT_URLCONF


def _timed(handler: WSGIHandler, environs: list[Environ], urlconf: str) -> tuple[float, float]:
    """CPU seconds of this process and of its PostgreSQL backend (0 when not readable) for ``environs``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    database_before, cpu = _process_cpu_seconds(backend), time.process_time()
    _run(handler, environs, urlconf)
    cpu = time.process_time() - cpu
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        same_backend = cursor.fetchone()[0] == backend
    database_after = _process_cpu_seconds(backend)
    if not same_backend or database_before is None or database_after is None:
        return cpu, 0.0
    return cpu, database_after - database_before


def _profile(handler: WSGIHandler, environs: list[Environ], urlconf: str, label: str, lines: int) -> None:
    profiler = cProfile.Profile(time.process_time)  # CPU time: waiting for the database is not counted
    profiler.enable()
    _run(handler, environs, urlconf)
    profiler.disable()
    print(f"\n{label}: {len(environs):,} requests under cProfile")
    for order in ("tottime", "cumulative"):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(order).print_stats(lines)
        print(stream.getvalue().strip() + "\n")


if __name__ == "__main__":
    sys.exit(main())
