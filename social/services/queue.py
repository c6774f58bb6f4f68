"""Task hand-off, always after the surrounding transaction commits (a worker must find the rows)."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

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
