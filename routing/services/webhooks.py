"""Partner webhooks asked for by rules: a signed POST, one attempt per task run, retried with back-off.

1. Claim the call (pending, count the attempt) in a short transaction.
2. POST outside any transaction, signed like the Partner API channel (``X-SCRM-Timestamp`` and
   ``X-SCRM-Signature: sha256=HMAC(secret, timestamp + "." + body)`` with the channel's signing secret).
3. Record the outcome: sent; or, on a timeout, 429 or 5xx, another attempt after 2**n × the send back-off,
   up to ``MAX_ATTEMPTS``; a 4xx (or the last attempt) ends in failed with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.webhooks.delivery import sign
from routing.models import RuleWebhookCall
from social import conf
from social.connectors.api import SIGNATURE_HEADER, TIMESTAMP_HEADER
from social.connectors.base import PermanentSendError, SignatureInvalid, TransientSendError, require_secret
from social.connectors.http import request_json
from social.services.queue import schedule_on_commit

MAX_ATTEMPTS = 5
TASK = "routing.tasks.deliver_rule_webhook"


def rule_webhook_deliver(*, call_id: int) -> str:
    with transaction.atomic():
        claimed = RuleWebhookCall.objects.filter(pk=call_id, status=RuleWebhookCall.Status.PENDING).update(
            attempts=F("attempts") + 1
        )
    call = RuleWebhookCall.objects.select_related("channel").filter(pk=call_id).first()
    if call is None:
        return "missing"
    if not claimed:
        return call.status
    body = json.dumps(call.body).encode()
    error, retry = "", False
    try:
        timestamp = int(time.time())
        request_json(
            call.url,
            raw_body=body,
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(require_secret(call.channel, "signing_secret"), body, timestamp),
            },
        )
    except TransientSendError as exc:
        error, retry = str(exc), call.attempts < MAX_ATTEMPTS
    except (PermanentSendError, SignatureInvalid) as exc:
        error = str(exc)
    with transaction.atomic():
        if not error:
            call.status, call.sent_at, call.error = RuleWebhookCall.Status.SENT, timezone.now(), ""
        elif retry:
            call.error = error[:2000]
            delay = conf.send_backoff_seconds() * 2 ** (call.attempts - 1)
            schedule_on_commit(TASK, call.pk, at=timezone.now() + dt.timedelta(seconds=delay))
        else:
            call.status, call.error = RuleWebhookCall.Status.FAILED, error[:2000]
        call.save(update_fields=["status", "sent_at", "error"])
    return call.status
