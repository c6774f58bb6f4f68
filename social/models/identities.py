from __future__ import annotations

from django.db import models
from django.db.models.functions import Upper


class Identity(models.Model):
    """A person as a channel knows them (a PSID, a Telegram user id, a phone number), mapped to one contact."""

    channel = models.ForeignKey("social.Channel", on_delete=models.CASCADE, related_name="identities")
    external_id = models.CharField(max_length=255)
    contact = models.ForeignKey("crm.Contact", on_delete=models.PROTECT, related_name="identities")
    display_name = models.CharField(max_length=200, blank=True)
    handle = models.CharField(max_length=200, blank=True)
    avatar_url = models.URLField(max_length=1000, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        ordering = ["-id"]
        constraints = [
            # Two deliveries from a new sender racing each other must not create two identities.
            models.UniqueConstraint(fields=["channel", "external_id"], name="social_identity_unique_per_channel"),
        ]
        indexes = [
            # A mention's author is matched to a contact by handle, ignoring case (social.listening.services):
            # ``handle__iexact`` compares UPPER(handle), which this index serves instead of a scan per mention.
            models.Index(Upper("handle"), name="social_identity_handle_ci_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.handle or self.external_id
