"""Retention of stored webhook deliveries: processed and ignored events are deleted once older than
``SOCIAL_EVENT_RETENTION_DAYS`` (scheduled daily, ``social.tasks.purge_inbound_events``).

Pending events are still to be processed and failed ones wait for staff (Admin → Social → Inbound events,
*Process the selected failed events again*): neither is ever deleted here. Deleting an old event also drops
its (channel, provider event id) guard, which is harmless: providers redeliver within hours, and messages are
unique on (channel, provider message id) on their own.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from social import conf
from social.models import InboundEvent

# Rows per DELETE: each chunk is its own short statement (and transaction), so a large backlog never holds
# locks for long nor builds one huge transaction; a purge cut short by the task timeout keeps what it did.
PURGE_CHUNK = 5000
FINISHED = [InboundEvent.Status.PROCESSED, InboundEvent.Status.IGNORED]


def inbound_events_purge(*, chunk_size: int = PURGE_CHUNK) -> int:
    """Delete the processed and ignored events received before the retention horizon, ``chunk_size`` ids per
    DELETE; returns how many were deleted. Never touches pending or failed events. Safe to run twice."""
    horizon = timezone.now() - dt.timedelta(days=conf.event_retention_days())
    expired = InboundEvent.objects.filter(status__in=FINISHED, received_at__lt=horizon)
    deleted, after = 0, 0
    while True:
        # Walk forward by id, so no chunk rescans the rows (dead until vacuumed) that earlier chunks deleted.
        ids = list(expired.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return deleted
        # The conditions again: an event that changed status since the SELECT stays.
        count, _by_model = expired.filter(pk__in=ids).delete()
        deleted, after = deleted + count, ids[-1]
        if len(ids) < chunk_size:
            return deleted
