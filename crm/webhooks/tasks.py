"""django-q2 entry point: a thin shell (ids in) around ``delivery_attempt``; safe to run twice."""

from __future__ import annotations

from crm.webhooks.delivery import delivery_attempt


def deliver(delivery_id: int, attempt: int) -> str:
    return delivery_attempt(delivery_id=delivery_id, attempt=attempt)
