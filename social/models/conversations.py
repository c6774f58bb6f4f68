from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Conversation(models.Model):
    """The thread between one contact and one channel. At most one is not resolved at a time."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"

    class Priority(models.IntegerChoices):
        LOW = 0, "Low"
        NORMAL = 1, "Normal"
        HIGH = 2, "High"
        URGENT = 3, "Urgent"

    channel = models.ForeignKey("social.Channel", on_delete=models.PROTECT, related_name="conversations")
    contact = models.ForeignKey("crm.Contact", on_delete=models.PROTECT, related_name="conversations")
    identity = models.ForeignKey(
        "social.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
        limit_choices_to={"is_staff": True},
    )
    team = models.CharField(max_length=100, blank=True)
    labels = models.JSONField(default=list, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # The WhatsApp 24-hour window is measured from the customer's last message.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "contact"],
                condition=~Q(status="resolved"),
                name="social_conversation_one_open_per_contact",
            ),
        ]
        indexes = [
            # The inbox: conversations in a status, newest activity first.
            models.Index(fields=["status", "-last_message_at"], name="social_conv_inbox_idx"),
            # Partner sync pages through (updated_at, id) (crm.api.pagination).
            models.Index(fields=["updated_at", "id"], name="social_conv_sync_idx"),
        ]

    def __str__(self) -> str:
        return f"Conversation #{self.pk}"
