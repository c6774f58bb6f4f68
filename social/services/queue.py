"""Task hand-off, always after the surrounding transaction commits (a worker must find the rows)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django_q.models import Schedule
from django_q.tasks import async_task, schedule


def enqueue_on_commit(func: str, *args: int) -> None:
    transaction.on_commit(lambda: async_task(func, *args))


def schedule_on_commit(func: str, *args: int, at: dt.datetime) -> None:
    """Run ``func(*args)`` once at ``at`` (a django-q ONCE schedule, deleted after it ran)."""
    transaction.on_commit(lambda: schedule(func, *args, schedule_type=Schedule.ONCE, next_run=at))
