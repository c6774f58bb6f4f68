"""Partner webhook subscriptions, the deliveries made to them and every attempt at one (``crm.webhooks``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class WebhookSubscription(models.Model):
    """A partner account's endpoint for a set of events. The signing secret is stored encrypted
    (``crm.webhooks.secrets``); it is shown once when created and masked afterwards."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        help_text="The partner's account (the user its API keys act as)",
    )
    url = models.URLField(max_length=2000, help_text="Where events are POSTed, https://…")
    events = models.JSONField(default=list, help_text='Event names, e.g. ["contact.created", "order.updated"]')
    description = models.CharField(max_length=200, blank=True)
    secret_encrypted = models.TextField(editable=False)
    is_active = models.BooleanField(default=True)
    # Failure bookkeeping: reset by the first successful attempt.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False, help_text="Failed attempts in a row")
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    api_key = models.ForeignKey(
        "crm.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False,
        help_text="The key the subscription was created with (its creator is told when it is disabled)",
    )  # fmt: skip
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    class Meta:
        verbose_name = "webhook subscription"
        ordering = ["-created_at", "-id"]
        indexes = [
            # Every committed change looks up the active subscriptions once per transaction.
            models.Index(fields=["is_active"], name="crm_webhooksub_active_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.url} ({self.owner_id})"


class WebhookDelivery(models.Model):
    """One event for one subscription. ``payload`` is the body sent (its ``id`` is this row's id), so every
    attempt and a redelivery send the same document."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    object_id = models.BigIntegerField(help_text="Id of the record the event is about")
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    retry_from = models.DateTimeField(help_text="Start of the current retry window (creation or redelivery)")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subscription", "status"], name="crm_webhookdel_sub_status_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.event}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, as sent and as answered (bodies cut to an excerpt)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    url = models.URLField(max_length=2000)
    request_headers = models.JSONField(default=dict)
    request_body = models.TextField(blank=True, help_text="Excerpt")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="Excerpt")
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery #{self.delivery_id}"
