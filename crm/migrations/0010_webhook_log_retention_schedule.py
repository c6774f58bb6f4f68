"""A daily schedule deletes finished webhook deliveries (and their attempt logs) older than
WEBHOOK_LOG_RETENTION_DAYS (03:40 UTC; staff can change the time in Admin -> Django Q)."""

import datetime as dt
from typing import Any

from django.db import migrations

NAME = "crm: purge old webhook deliveries"


def create_schedule(apps: Any, schema_editor: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    next_run = now.replace(hour=3, minute=40, second=0, microsecond=0)
    if next_run <= now:
        next_run += dt.timedelta(days=1)
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={
            "func": "crm.webhooks.tasks.purge_deliveries",
            "schedule_type": "D",
            "next_run": next_run,
            "repeats": -1,
        },
    )


def remove_schedule(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0009_interaction_external_id_tombstones"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
