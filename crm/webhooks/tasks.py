"""django-q2 entry points: thin shells (ids in) around one service each; safe to run twice."""

from __future__ import annotations

from crm.webhooks.delivery import delivery_attempt
from crm.webhooks.retention import deliveries_purge


def deliver(delivery_id: int, attempt: int) -> str:
    return delivery_attempt(delivery_id=delivery_id, attempt=attempt)


def purge_deliveries() -> int:
    """Daily (see the "crm: purge old webhook deliveries" schedule): drop finished deliveries past
    ``WEBHOOK_LOG_RETENTION_DAYS`` with their attempt logs."""
    return deliveries_purge()
