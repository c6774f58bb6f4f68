"""Schedule the nightly customer analysis (02:30 UTC); staff can change the time in Admin → Django Q."""

import datetime as dt
from typing import Any

from django.db import migrations

NAME = "crm: nightly customer analysis"


def create(apps: Any, schema_editor: Any) -> None:
    schedule = apps.get_model("django_q", "Schedule")
    now = dt.datetime.now(dt.UTC)
    next_run = now.replace(hour=2, minute=30, second=0, microsecond=0)
    if next_run <= now:
        next_run += dt.timedelta(days=1)
    schedule.objects.get_or_create(
        name=NAME,
        defaults={"func": "crm.tasks.recompute_analysis", "schedule_type": "D", "next_run": next_run, "repeats": -1},
    )


def remove(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0004_customer_data"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
