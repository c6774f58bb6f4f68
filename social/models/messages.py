from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Message(models.Model):
    """One message in a conversation, in either direction, or a staff-only internal note.

    ``attachments`` is a list of ``{"type", "url", "mime_type", "name", "size"}`` dicts: metadata and the
    provider's URL only; files are not fetched.
    """

    class Direction(models.TextChoices):
        INBOUND = "in", "Inbound"
        OUTBOUND = "out", "Outbound"

    class SenderType(models.TextChoices):
        CONTACT = "contact", "Contact"
        STAFF = "staff", "Staff"
        SYSTEM = "system", "System / bot"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey("social.Conversation", on_delete=models.CASCADE, related_name="messages")
    # Copied from the conversation so that the provider id can be unique per channel.
    channel = models.ForeignKey("social.Channel", on_delete=models.PROTECT, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    is_internal_note = models.BooleanField(default=False, help_text="Visible to staff only; never sent")
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    template = models.JSONField(null=True, blank=True, help_text="WhatsApp template: name, language, components")
    metadata = models.JSONField(
        default=dict,
        blank=True,
        help_text="Provider-specific extras such as an email's subject and threading headers",
    )
    sender_type = models.CharField(max_length=8, choices=SenderType.choices)
    sender_contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_message_id = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, blank=True, help_text="Blank for internal notes")
    error = models.TextField(blank=True, help_text="The provider's reason when sending failed")
    send_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=16, blank=True)
    sentiment = models.FloatField(null=True, blank=True, help_text="VADER compound score, -1 (negative) … 1")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the provider says it was sent")
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Redelivered webhooks (and two deliveries racing) cannot store a message twice.
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"],
                condition=Q(provider_message_id__isnull=False),
                name="social_message_provider_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="social_msg_conv_time_idx"),
            # Partner sync pages through (updated_at, id) (crm.api.pagination).
            models.Index(fields=["updated_at", "id"], name="social_msg_sync_idx"),
        ]

    def __str__(self) -> str:
        return f"Message #{self.pk}"
