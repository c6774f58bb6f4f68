"""django-q2 tasks: ids in, one service call, safe to run twice."""

from __future__ import annotations

from social.services.conversations import conversations_wake_snoozed
from social.services.inbound import inbound_event_process, inbound_events_requeue_stale
from social.services.inbound_drain import inbound_events_drain
from social.services.inbound_retention import inbound_events_purge
from social.services.outbound import message_deliver, messages_requeue_stale


def process_inbound_event(event_id: int) -> str:
    return inbound_event_process(event_id=event_id)


def drain_inbound_events() -> int:
    """Process the pending inbound events in batches (requested by each webhook, coalesced)."""
    return inbound_events_drain()


def send_message(message_id: int) -> str:
    return message_deliver(message_id=message_id)


def requeue_stale_events() -> int:
    """Scheduled every minute (migration 0002): events and sends whose worker died go back to the queue
    (for events: a drain is requested).

    The same minute also wakes snoozed conversations whose time has come: one sweep, one schedule row.
    """
    return inbound_events_requeue_stale() + messages_requeue_stale() + conversations_wake_snoozed()


def purge_inbound_events() -> int:
    """Daily (migration 0007): delete processed and ignored events past ``SOCIAL_EVENT_RETENTION_DAYS``."""
    return inbound_events_purge()
