"""One attempt at a delivery: sign, POST, log; then delivered, retried later, or failed. A subscription whose
attempts have all failed for ``WEBHOOK_DISABLE_AFTER_HOURS`` is disabled and its owner told by e-mail."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from crm.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from crm.webhooks.addresses import UnsafeURL, webhook_target
from crm.webhooks.queue import deliver_later_on_commit
from crm.webhooks.secrets import SecretUnreadable, secret_decrypt
from crm.webhooks.subscriptions import ACTIVE_FIELDS, set_active_fields
from crm.webhooks.transport import Answer, post

REQUEST_EXCERPT = 2000
Status = WebhookDelivery.Status


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``, as the partner API channel signs too."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def retry_delay(attempt: int) -> dt.timedelta:
    """Wait after failed attempt ``attempt`` (1-based): first delay, doubling, capped."""
    first, cap = settings.WEBHOOK_RETRY_FIRST_SECONDS, settings.WEBHOOK_RETRY_MAX_SECONDS
    return dt.timedelta(seconds=min(first * 2 ** min(attempt - 1, 30), cap))


def delivery_body(delivery: WebhookDelivery) -> bytes:
    document = {
        "id": delivery.pk,
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "data": delivery.payload,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def delivery_attempt(*, delivery_id: int, attempt: int) -> str:
    """Make attempt ``attempt`` of a delivery; returns "delivered", "retry", "failed" or "skipped".

    1. Claim it: only a pending delivery whose last attempt was ``attempt - 1`` is claimed (one conditional
       update), so a task run twice, or a retry made stale by a redelivery, does nothing; the claim is a
       lease, taken over when the worker that held it died before logging the attempt.
    2. A disabled subscription fails the delivery without a request.
    3. Check the URL again (DNS may have changed since it was saved), sign, POST to the checked address.
    4. Log the attempt and settle the delivery and the subscription's failure count (``_settle``).
    """
    now = timezone.now()
    # A claim is a lease: if the worker dies mid-request, django-q runs the task again (after Q_TIMEOUT + 60 s)
    # and the expired lease of an attempt that was never logged may be taken again.
    lease = now + dt.timedelta(seconds=settings.WEBHOOK_TIMEOUT + 60)
    abandoned = Q(attempts=attempt, next_attempt_at__lt=now) & ~Exists(
        WebhookAttempt.objects.filter(delivery=OuterRef("pk"), number=attempt)
    )
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING)
        .filter(Q(attempts=attempt - 1) | abandoned)
        .update(attempts=attempt, next_attempt_at=lease)
    )
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    if not subscription.is_active:
        delivery.status, delivery.last_error = Status.FAILED, "not sent: the subscription is disabled"
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
        return "failed"
    body = delivery_body(delivery)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "social-crm-webhooks/1",
        "X-SCRM-Timestamp": str(timestamp),
        "X-SCRM-Delivery": str(delivery.pk),
        "X-SCRM-Event": delivery.event,
    }
    try:
        headers["X-SCRM-Signature"] = sign(secret_decrypt(subscription.secret_encrypted), body, timestamp)
        target = webhook_target(subscription.url)
    except (UnsafeURL, SecretUnreadable) as exc:
        answer = Answer(None, "", 0, f"not sent: {exc}")
    else:
        answer = post(target, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT)
    logged = {**headers, "X-SCRM-Signature": "sha256=…"} if "X-SCRM-Signature" in headers else headers
    WebhookAttempt.objects.create(
        delivery=delivery, number=attempt, attempted_at=now, url=subscription.url, request_headers=logged,
        request_body=body[:REQUEST_EXCERPT].decode("utf-8", errors="replace"), response_status=answer.status,
        response_body=answer.body, duration_ms=answer.duration_ms, error=answer.error,
        succeeded=_ok(answer),
    )  # fmt: skip
    return _settle(delivery, attempt, answer, now)


def _ok(answer: Answer) -> bool:
    return answer.status is not None and 200 <= answer.status < 300


def _settle(delivery: WebhookDelivery, attempt: int, answer: Answer, now: dt.datetime) -> str:
    """Delivered: the subscription's failures are forgotten. Failed: retry after ``retry_delay`` while the
    delivery's retry window (``WEBHOOK_RETRY_HOURS``) lasts, else give up; disable a subscription that has
    had no success for ``WEBHOOK_DISABLE_AFTER_HOURS``."""
    delivery.last_status_code, delivery.next_attempt_at = answer.status, None
    fields = ["status", "last_status_code", "last_error", "delivered_at", "next_attempt_at"]
    with transaction.atomic():
        subscription = WebhookSubscription.objects.select_for_update().get(pk=delivery.subscription_id)
        if _ok(answer):
            delivery.status, delivery.delivered_at, delivery.last_error = Status.DELIVERED, now, ""
            delivery.save(update_fields=fields)
            subscription.consecutive_failures, subscription.failing_since = 0, None
            subscription.last_success_at = now
            subscription.save(update_fields=["consecutive_failures", "failing_since", "last_success_at"])
            return "delivered"
        delivery.last_error = (answer.error or f"HTTP {answer.status}")[:500]
        subscription.consecutive_failures += 1
        subscription.failing_since = subscription.failing_since or now
        subscription.save(update_fields=["consecutive_failures", "failing_since"])
        if subscription.is_active and now - subscription.failing_since >= dt.timedelta(
            hours=settings.WEBHOOK_DISABLE_AFTER_HOURS
        ):
            _disable(subscription, now)
        if subscription.is_active and now - delivery.retry_from < dt.timedelta(hours=settings.WEBHOOK_RETRY_HOURS):
            delivery.next_attempt_at = now + retry_delay(attempt)
            delivery.save(update_fields=fields)
            deliver_later_on_commit(delivery.pk, attempt + 1, at=delivery.next_attempt_at)
            return "retry"
        delivery.status = Status.FAILED
        delivery.save(update_fields=fields)
        return "failed"


def _disable(subscription: WebhookSubscription, now: dt.datetime) -> None:
    since = subscription.failing_since or now
    hours = int((now - since).total_seconds() // 3600)
    reason = (
        f"Disabled automatically: every delivery attempt for {hours} hours failed "
        f"({subscription.consecutive_failures} attempts in a row)."
    )
    set_active_fields(subscription, False, reason=reason)
    subscription.save(update_fields=[*ACTIVE_FIELDS, "updated_at"])
    transaction.on_commit(lambda: subscription_notify_disabled(subscription_id=subscription.pk), robust=True)


def disabled_recipients(subscription: WebhookSubscription) -> list[str]:
    """The partner account's address, the administrator who created the key the subscription was made with,
    and the administrator who created it in the admin."""
    people: list[Any] = [subscription.owner, subscription.created_by]
    if subscription.api_key is not None:
        people.append(subscription.api_key.created_by)
    return list(dict.fromkeys(p.email for p in people if p is not None and p.email))


def subscription_notify_disabled(*, subscription_id: int) -> int:
    subscription = WebhookSubscription.objects.select_related("owner", "created_by", "api_key__created_by").get(
        pk=subscription_id
    )
    recipients = disabled_recipients(subscription)
    if not recipients:
        return 0
    body = (
        f"The webhook subscription #{subscription.pk} to {subscription.url} has been disabled.\n\n"
        f"{subscription.disabled_reason}\n\n"
        "No further events are sent to it. Fix the endpoint (it must answer 2xx within "
        f"{settings.WEBHOOK_TIMEOUT} seconds), then enable the subscription again: PATCH "
        f'/api/v1/webhook-subscriptions/{subscription.pk}/ with {{"is_active": true}}, or ask an administrator. '
        "Failed deliveries can be sent again from the admin (Webhook deliveries, action Redeliver).\n"
    )
    return send_mail(
        f"Webhook subscription disabled: {subscription.url}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )
