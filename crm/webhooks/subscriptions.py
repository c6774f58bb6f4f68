"""Subscriptions: created (the secret is returned once), changed, enabled and disabled, and deliveries
sent again. The admin and the API both call these."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.models import ApiKey, User, WebhookDelivery, WebhookSubscription
from crm.webhooks.addresses import outbound_url_validate
from crm.webhooks.events import EVENTS
from crm.webhooks.queue import deliver_on_commit
from crm.webhooks.secrets import secret_encrypt, secret_generate


def _clean(url: str, events: Iterable[str]) -> list[str]:
    errors: dict[str, list[str]] = {}
    try:
        outbound_url_validate(url)
    except ValidationError as exc:
        errors["url"] = exc.messages
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        errors["events"] = [f"Unknown event(s): {', '.join(unknown)}. Known: {', '.join(EVENTS)}."]
    elif not chosen:
        errors["events"] = ["Choose at least one event."]
    if errors:
        raise ValidationError(errors)
    return chosen


def subscription_create(
    *,
    owner: User,
    url: str,
    events: Iterable[str],
    description: str = "",
    api_key: ApiKey | None = None,
    created_by: User | None = None,
) -> tuple[WebhookSubscription, str]:
    """Create an active subscription; return it with its signing secret (shown once, stored encrypted)."""
    chosen = _clean(url, events)
    secret = secret_generate()
    subscription = WebhookSubscription.objects.create(
        owner=owner, url=url, events=chosen, description=description, secret_encrypted=secret_encrypt(secret),
        api_key=api_key, created_by=created_by,
    )  # fmt: skip
    return subscription, secret


def subscription_update(*, subscription: WebhookSubscription, data: dict[str, Any]) -> WebhookSubscription:
    """Change the keys of ``data`` among url, events, description, is_active (re-activating resets the
    failure counters)."""
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        url, events = data.get("url", locked.url), data.get("events", locked.events)
        locked.events = _clean(url, events)
        locked.url = url
        locked.description = data.get("description", locked.description)
        fields = ["url", "events", "description", "updated_at"]
        if "is_active" in data and data["is_active"] != locked.is_active:
            set_active_fields(locked, bool(data["is_active"]), reason="disabled by its owner")
            fields += ACTIVE_FIELDS
        locked.save(update_fields=fields)
    return locked


ACTIVE_FIELDS = ["is_active", "disabled_at", "disabled_reason", "consecutive_failures", "failing_since"]


def set_active_fields(subscription: WebhookSubscription, active: bool, *, reason: str) -> None:
    subscription.is_active = active
    if active:
        subscription.disabled_at, subscription.disabled_reason = None, ""
        subscription.consecutive_failures, subscription.failing_since = 0, None
    else:
        subscription.disabled_at, subscription.disabled_reason = timezone.now(), reason[:300]


def subscription_set_active(*, subscription: WebhookSubscription, active: bool, reason: str = "") -> bool:
    """Enable (failures forgotten) or disable a subscription; False when it already was."""
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        if locked.is_active == active:
            return False
        set_active_fields(locked, active, reason=reason or "disabled by an administrator")
        locked.save(update_fields=[*ACTIVE_FIELDS, "updated_at"])
    return True


def subscription_rotate_secret(*, subscription: WebhookSubscription) -> str:
    """Give the subscription a new secret (returned once); the next deliveries are signed with it."""
    secret = secret_generate()
    subscription.secret_encrypted = secret_encrypt(secret)
    subscription.save(update_fields=["secret_encrypted", "updated_at"])
    return secret


def delivery_redeliver(*, delivery: WebhookDelivery) -> None:
    """Send a delivery again now, with a fresh retry window (same id and body: partners deduplicate by id)."""
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().select_related("subscription").get(pk=delivery.pk)
        if not locked.subscription.is_active:
            raise ValidationError(f"Delivery #{locked.pk}: enable its subscription first.")
        now = timezone.now()
        locked.status, locked.retry_from, locked.next_attempt_at = WebhookDelivery.Status.PENDING, now, now
        locked.save(update_fields=["status", "retry_from", "next_attempt_at"])
        # The attempt number makes any retry still scheduled from before a stale no-op.
        deliver_on_commit(locked.pk, locked.attempts + 1)


def subscription_delete(*, subscription: WebhookSubscription) -> None:
    """Remove a subscription with its delivery log; retries still scheduled find nothing and do nothing."""
    subscription.delete()
