"""Retention of the delivery log: finished deliveries (delivered, or failed: given up) are deleted with their
attempts once their last activity is older than ``WEBHOOK_LOG_RETENTION_DAYS`` (scheduled daily,
``crm.webhooks.tasks.purge_deliveries``). Pending deliveries, still being tried or retried, are never deleted.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from crm.models import WebhookAttempt, WebhookDelivery

# Deliveries per transaction (their attempts in one DELETE, then the deliveries): short transactions, so a
# large backlog never holds locks for long; a purge cut short by the task timeout keeps what it did.
PURGE_CHUNK = 5000
FINISHED = [WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED]


def deliveries_purge(*, chunk_size: int = PURGE_CHUNK) -> int:
    """Delete the finished deliveries (and their attempt logs) untouched since the retention horizon,
    ``chunk_size`` deliveries per transaction; returns how many deliveries were deleted. Safe to run twice.

    "Untouched" is measured from the start of the last retry window (``retry_from``: creation or the last
    redelivery) and every logged attempt, so a delivery redelivered or retried recently stays.
    """
    horizon = timezone.now() - dt.timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS)
    recent_attempt = WebhookAttempt.objects.filter(delivery=OuterRef("pk"), attempted_at__gte=horizon)
    expired = WebhookDelivery.objects.filter(status__in=FINISHED, retry_from__lt=horizon).exclude(
        Exists(recent_attempt)
    )
    deleted, after = 0, 0
    while True:
        # Walk forward by id (ids follow creation): no chunk rescans what earlier chunks deleted, and no index
        # on the delivery table is needed for a job that runs once a day.
        ids = list(expired.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return deleted
        with transaction.atomic():
            # Locked with the conditions again, as redelivery locks the row: one redelivered meanwhile stays.
            locked = list(expired.filter(pk__in=ids).select_for_update().values_list("pk", flat=True))
            # Attempts go first in one DELETE (the cascade), then the deliveries; only their ids are loaded.
            _total, by_model = WebhookDelivery.objects.filter(pk__in=locked).only("pk").delete()
        deleted, after = deleted + by_model.get(WebhookDelivery._meta.label, 0), ids[-1]
        if len(ids) < chunk_size:
            return deleted
