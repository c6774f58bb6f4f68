"""A daily schedule deletes processed and ignored inbound events older than SOCIAL_EVENT_RETENTION_DAYS
(03:50 UTC; staff can change the time in Admin -> Django Q). Pending and failed events are never deleted."""

import datetime as dt
from typing import Any

from django.db import migrations

NAME = "social: purge old inbound events"


def create_schedule(apps: Any, schema_editor: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    next_run = now.replace(hour=3, minute=50, second=0, microsecond=0)
    if next_run <= now:
        next_run += dt.timedelta(days=1)
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={
            "func": "social.tasks.purge_inbound_events",
            "schedule_type": "D",
            "next_run": next_run,
            "repeats": -1,
        },
    )


def remove_schedule(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("social", "0006_sync_indexes"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
