from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import Interaction
from crm.services.base import save_fields


def tasks_mark_done(*, interactions: QuerySet[Interaction]) -> int:
    """Mark the open tasks among ``interactions`` done (other kinds are left alone); returns how many."""
    now = timezone.now()
    changed = 0
    with transaction.atomic():
        for task in interactions.filter(kind=Interaction.Kind.TASK, done=False).select_for_update().order_by("pk"):
            task.done, task.done_at = True, now
            save_fields(task, ["done", "done_at"])
            changed += 1
    return changed
