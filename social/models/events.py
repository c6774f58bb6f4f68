from __future__ import annotations

from django.db import models


class InboundEvent(models.Model):
    """A webhook request exactly as received, stored before the provider gets its answer.

    Processing re-reads the stored body, so a crash anywhere after the insert loses nothing: the event
    stays ``pending`` and ``social.tasks.requeue_stale_events`` hands it to the queue again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (unsupported)"
        FAILED = "failed", "Failed"

    # No index of its own: the unique (channel, provider_event_id) index starts with it, and every webhook
    # would otherwise write one more index entry (bench/webhook_ingest.py).
    channel = models.ForeignKey(
        "social.Channel", on_delete=models.CASCADE, related_name="inbound_events", db_index=False
    )
    # The provider's id for the delivery (Telegram update_id, Twilio MessageSid + status, …) or a hash
    # of the body when the provider has none (Meta batches).
    provider_event_id = models.CharField(max_length=255)
    body = models.BinaryField()
    content_type = models.CharField(max_length=200, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "provider_event_id"], name="social_event_unique_per_channel"),
        ]
        indexes = [
            # The requeue sweep reads pending events by age.
            models.Index(fields=["status", "received_at"], name="social_event_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.provider_event_id}"

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")
