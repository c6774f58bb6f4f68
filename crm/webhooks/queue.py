"""Task hand-off for deliveries, always after the surrounding transaction commits (crm's own copy of
``social.services.queue``: crm never imports social)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

DELIVER_TASK = "crm.webhooks.tasks.deliver"


def deliver_on_commit(delivery_id: int, attempt: int) -> None:
    transaction.on_commit(lambda: async_task(DELIVER_TASK, delivery_id, attempt))


def deliver_later_on_commit(delivery_id: int, attempt: int, *, at: dt.datetime) -> None:
    """Run attempt ``attempt`` at ``at`` (a django-q ONCE schedule, deleted after it ran)."""
    transaction.on_commit(
        lambda: schedule(DELIVER_TASK, delivery_id, attempt, schedule_type=Schedule.ONCE, next_run=at)
    )
