"""The inbound drain: pending events claimed in batches and processed set-based, by every idle worker.

Webhooks store events and request a drain (``social.services.queue.drain_request_on_commit``: a burst of
requests becomes one task). ``inbound_events_drain`` (the task):

1. clears the request flag, so that an event stored from now on requests a new drain, while every event
   stored before is seen by the claims below: nothing waits for the minute sweep. A webhook that saw the
   flag set less than ``SOCIAL_DRAIN_GRACE_MS`` ago does not ask (``social.services.queue``), so the drain
   makes its last claim no earlier than that long after the clear;
2. claims up to ``SOCIAL_DRAIN_BATCH`` pending events, oldest first, ``FOR UPDATE SKIP LOCKED`` (two drains
   never claim the same event), counting the attempt and taking a lease (``last_attempt_at``; a claim made
   less than ``SOCIAL_EVENT_STALE_SECONDS`` ago is not taken again) in a transaction of its own, so that
   a worker killed afterwards leaves the attempt behind and the event is claimed again when the lease ends;
3. when the batch is full, requests another drain first, so that an idle worker joins in;
4. processes the batch in one transaction (``inbound_batch``). If applying one event fails (a provider
   outage while fetching a comment), the batch rolls back, that event keeps the error (retried after its
   lease, failed after ``SOCIAL_EVENT_MAX_ATTEMPTS``) and the others are processed again without it. If
   anything else fails, each event goes through the one-event path (``inbound_event_process_claimed``),
   which records the failure on the event that caused it and stores the others;
5. repeats until no event is left, or hands over to a new task after ``SOCIAL_DRAIN_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from social import conf
from social.connectors.base import MalformedPayload
from social.models import InboundEvent
from social.services.inbound import inbound_event_failure_record, inbound_event_process_claimed
from social.services.inbound_batch import EventFailed, inbound_events_process
from social.services.queue import drain_flag_clear, drain_request_on_commit

logger = logging.getLogger(__name__)


def inbound_events_claim(*, limit: int) -> list[int]:
    """Claim up to ``limit`` pending events (oldest first) that no live claim holds; returns their ids."""
    now = timezone.now()
    lease_ended = now - dt.timedelta(seconds=conf.event_stale_seconds())
    with transaction.atomic():
        ids = list(
            InboundEvent.objects.select_for_update(skip_locked=True)
            .filter(status=InboundEvent.Status.PENDING, attempts__lt=conf.event_max_attempts())
            .filter(Q(last_attempt_at__isnull=True) | Q(last_attempt_at__lt=lease_ended))
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            InboundEvent.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, last_attempt_at=now)
    return ids


def inbound_events_drain() -> int:
    """Process pending events until none is left (or the time is up); returns how many were claimed."""
    cleared_at = drain_flag_clear()
    limit = conf.drain_batch()
    deadline = time.monotonic() + conf.drain_seconds()
    claimed = 0
    while True:
        ids = inbound_events_claim(limit=limit)
        if not ids:
            wait = conf.drain_grace_seconds() - (time.monotonic() - cleared_at)
            if wait <= 0:
                return claimed
            time.sleep(wait)  # then the last claim: see step 1
            continue
        claimed += len(ids)
        if len(ids) == limit:
            drain_request_on_commit()  # more may wait: another worker can take the next batch
        _process(ids)
        if time.monotonic() > deadline:
            drain_request_on_commit(force=True)
            return claimed


def _process(ids: list[int]) -> None:
    pending = list(ids)
    while pending:
        try:
            inbound_events_process(event_ids=pending)
            return
        except EventFailed as failure:
            cause = failure.__cause__
            logger.warning("inbound event %s failed in a batch: %r", failure.event_id, cause)
            inbound_event_failure_record(
                event_id=failure.event_id,
                error=f"{type(cause).__name__}: {cause}",
                final=isinstance(cause, MalformedPayload),
            )
            pending.remove(failure.event_id)
        except Exception:
            logger.exception("inbound batch of %d events failed; processing them one by one", len(pending))
            for event_id in pending:
                inbound_event_process_claimed(event_id=event_id)
            return
