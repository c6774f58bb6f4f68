from __future__ import annotations

from django.conf import settings
from django.db import models

from crm.models.base import TimeStamped


class Segment(TimeStamped):
    """A saved filter over contacts (dynamic: evaluated when used) or a frozen list of members (static).

    ``definition`` holds the filter (see ``crm.services.segments`` for its keys and validation); a static
    segment made by freezing a dynamic one keeps the definition it came from for reference.
    """

    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", "Dynamic (evaluated when used)"
        STATIC = "static", "Static (frozen list)"

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DYNAMIC)
    definition = models.JSONField(default=dict, blank=True)
    frozen_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="snapshots", editable=False
    )
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="segments"
    )
    members = models.ManyToManyField("crm.Contact", through="crm.SegmentMember", related_name="segments", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A contact in a static segment."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE, related_name="segment_memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "contact"], name="crm_segmentmember_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.segment_id}"
