"""Checks shared by the tests of the daily schedules that data migrations create (django-q2 ``Schedule`` rows)."""

from __future__ import annotations

import importlib

from django.apps import apps
from django_q.models import Schedule


def assert_daily_schedule(name: str, func: str) -> None:
    """``migrate`` left one repeating daily schedule ``name`` that runs ``func``."""
    schedule = Schedule.objects.get(name=name)
    assert schedule.func == func and schedule.schedule_type == Schedule.DAILY
    assert schedule.next_run is not None and schedule.repeats == -1


def assert_schedule_migration_reversible(module: str, func: str) -> None:
    """The migration ``module`` (``create_schedule``/``remove_schedule``, its ``NAME``) is idempotent and
    reversible: run again it does not double the schedule, reversed it removes it, run again it restores it."""
    migration = importlib.import_module(module)
    schedules = Schedule.objects.filter(name=migration.NAME)
    migration.create_schedule(apps, None)  # already there from migrate: not doubled
    assert schedules.count() == 1
    migration.remove_schedule(apps, None)
    assert not schedules.exists()
    migration.create_schedule(apps, None)
    assert schedules.get().func == func
