"""Task hand-off, always after the surrounding transaction commits (a worker must find the rows).

``drain_request_on_commit``: the inbound drain task (``social.services.inbound_drain``) is enqueued only when
none is already waiting: a flag beside the queue, cleared by the task when it starts, coalesces the
requests of a burst of webhooks into one task. With the Redis broker the flag is a key next to the
queue's list (``SET NX EX`` on the broker's own connection: Django's Redis cache builds a client per call,
which cost a webhook more than its INSERT); with the database broker it is a cache entry (``add``). The flag
expires after ``DRAIN_FLAG_SECONDS``, so a task lost with its worker delays the next drain, never stops it.

Under load even that look-up is skipped: a process that saw the flag set less than ``SOCIAL_DRAIN_GRACE_MS``
ago (``_flag_seen_at``, taken *before* it asked) does not ask again. That is safe because a drain,
once it has cleared the flag, does not end before that grace has passed since: its last claim
is made after that (``inbound_drain``). An event committed within the grace of an observation made before
the clear is therefore committed before that last claim, and claimed by it.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django_q.brokers import Broker, get_broker
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from social import conf

_broker: tuple[int, Broker] | None = None


def shared_broker() -> Broker:
    """One broker per process: ``async_task`` without one builds a new broker (and Redis connection) per call,
    which was a quarter of a webhook's time in ``bench/webhook_ingest.py``. Rebuilt after a fork."""
    global _broker
    if _broker is None or _broker[0] != os.getpid():
        _broker = (os.getpid(), get_broker())
    return _broker[1]


def enqueue_on_commit(func: str, *args: int) -> None:
    def send() -> Any:
        return async_task(func, *args, broker=shared_broker())

    transaction.on_commit(send)


def schedule_on_commit(func: str, *args: int, at: dt.datetime) -> None:
    """Run ``func(*args)`` once at ``at`` (a django-q ONCE schedule, deleted after it ran)."""
    transaction.on_commit(lambda: schedule(func, *args, schedule_type=Schedule.ONCE, next_run=at))


DRAIN_TASK = "social.tasks.drain_inbound_events"
DRAIN_FLAG = "social:inbound-drain-requested"
DRAIN_FLAG_SECONDS = 60
_flag_seen_at = float("-inf")  # time.monotonic() before the last look-up that found the flag set, or set it


def drain_request_on_commit(*, force: bool = False) -> None:
    """Ask for an inbound drain after commit, unless one is waiting already (``force``: in any case).

    Robust: the event is stored when this runs, so a broker or cache failure is logged, not raised (the
    webhook still acknowledges; the minute sweep asks again)."""

    def send() -> None:
        global _flag_seen_at
        asked_at = time.monotonic()
        if not force and asked_at - _flag_seen_at < conf.drain_grace_seconds():
            return  # a drain is pending, and its last claim comes after this commit
        broker = shared_broker()
        try:
            if isinstance(broker, RedisBroker):
                requested = bool(broker.connection.set(_flag_key(broker), 1, nx=True, ex=DRAIN_FLAG_SECONDS))
            else:
                requested = cache.add(DRAIN_FLAG, 1, timeout=DRAIN_FLAG_SECONDS)
            _flag_seen_at = asked_at  # set now, by this request or an earlier one
        except Exception:  # noqa: BLE001 - the flag's store is down: enqueue anyway (a spare drain finds nothing)
            requested = True
        if requested or force:
            async_task(DRAIN_TASK, broker=broker)

    transaction.on_commit(send, robust=True)


def drain_flag_clear() -> float:
    """The drain starts: requests from now on enqueue a new task (events stored before are claimed by it).
    Returns ``time.monotonic()`` once the flag is gone: the drain's last claim must come
    ``SOCIAL_DRAIN_GRACE_MS`` after it."""
    global _flag_seen_at
    _flag_seen_at = float("-inf")
    broker = shared_broker()
    if isinstance(broker, RedisBroker):
        broker.connection.delete(_flag_key(broker))
    else:
        cache.delete(DRAIN_FLAG)
    return time.monotonic()


def _flag_key(broker: Broker) -> str:
    return f"{broker.list_key}:drain-requested"  # django_q:<cluster>:q:drain-requested
