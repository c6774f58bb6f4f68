"""Task hand-off, always after the surrounding transaction commits (a worker must find the rows).

``drain_request_on_commit``: the inbound drain task (``social.services.inbound_drain``) is enqueued only when
none is already waiting: a flag in the cache (``add``, atomic on Redis), cleared by the task when it
starts, coalesces the requests of a burst of webhooks into one task. The flag expires after
``DRAIN_FLAG_SECONDS``, so a task lost with its worker delays the next drain, never stops it.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django_q.brokers import Broker, get_broker
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

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


def drain_request_on_commit(*, force: bool = False) -> None:
    """Ask for an inbound drain after commit, unless one is waiting already (``force``: in any case).

    Robust: the event is stored when this runs, so a broker or cache failure is logged, not raised (the
    webhook still acknowledges; the minute sweep asks again)."""

    def send() -> None:
        try:
            requested = cache.add(DRAIN_FLAG, 1, timeout=DRAIN_FLAG_SECONDS)
        except Exception:  # noqa: BLE001 - the cache is down: enqueue anyway (a spare drain finds nothing)
            requested = True
        if requested or force:
            async_task(DRAIN_TASK, broker=shared_broker())

    transaction.on_commit(send, robust=True)


def drain_flag_clear() -> None:
    """The drain starts: requests from now on enqueue a new task (events stored before are claimed by it)."""
    cache.delete(DRAIN_FLAG)
