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
        # Re-selected by id: the caller's queryset may carry outer joins (admin list_select_related),
        # which PostgreSQL refuses to lock.
        open_tasks = Interaction.objects.filter(
            pk__in=interactions.values("pk"), kind=Interaction.Kind.TASK, done=False
        )
        for task in open_tasks.select_for_update().order_by("pk"):
            task.done, task.done_at = True, now
            save_fields(task, ["done", "done_at"])
            changed += 1
    return changed
