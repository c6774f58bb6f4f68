from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from crm.models.base import TimeStamped


class InteractionQuerySet(models.QuerySet["Interaction"]):
    def overdue_tasks(self) -> InteractionQuerySet:
        from django.utils import timezone

        return self.filter(kind=Interaction.Kind.TASK, done=False, due_at__lt=timezone.now())


class Interaction(TimeStamped):
    """A traditional touchpoint with a contact and/or company: a call, email, meeting, note or task."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        EMAIL = "email", "Email"
        MEETING = "meeting", "Meeting"
        NOTE = "note", "Note"
        TASK = "task", "Task"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    direction = models.CharField(max_length=16, choices=Direction.choices, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    occurred_at = models.DateTimeField(help_text="When it happened (for tasks: when it was created)")
    duration = models.DurationField(null=True, blank=True, help_text="HH:MM:SS")
    outcome = models.CharField(max_length=100, blank=True, help_text="e.g. connected, voicemail, demo booked")
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="interactions",
        limit_choices_to={"is_staff": True},
    )
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="interactions"
    )
    company = models.ForeignKey(
        "crm.Company", null=True, blank=True, on_delete=models.CASCADE, related_name="interactions"
    )
    due_at = models.DateTimeField(null=True, blank=True, help_text="Tasks only")
    done = models.BooleanField(default=False, help_text="Tasks only")
    done_at = models.DateTimeField(null=True, blank=True, editable=False)
    external_id = models.CharField(max_length=255, null=True, blank=True, help_text="The partner system's id")

    objects = InteractionQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=False) | Q(company__isnull=False),
                name="crm_interaction_has_contact_or_company",
            ),
            models.CheckConstraint(
                condition=Q(kind="task") | (Q(due_at__isnull=True) & Q(done=False)),
                name="crm_interaction_due_only_for_tasks",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="crm_interaction_external_id_unique",
                violation_error_message="External id: another interaction already has this external id.",
            ),
        ]
        indexes = [
            models.Index(fields=["contact", "-occurred_at"], name="crm_interaction_contact_idx"),
            # The "overdue task" filters look only at open tasks: a small partial index.
            models.Index(fields=["due_at"], condition=Q(kind="task", done=False), name="crm_interaction_open_task_idx"),
            models.Index(fields=["updated_at", "id"], name="crm_interaction_sync_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject or (self.body[:40] if self.body else '—')}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.contact_id is None and self.company_id is None:
            errors["contact"] = "Choose the contact and/or the company this interaction is with."
        if self.kind == self.Kind.TASK:
            if self.due_at is None:
                errors["due_at"] = "A task needs a due date."
        else:
            if self.due_at is not None:
                errors["due_at"] = "Only tasks have a due date."
            if self.done:
                errors["done"] = "Only tasks can be marked done."
        if self.done and self.done_at is None:
            from django.utils import timezone

            self.done_at = timezone.now()
        elif not self.done:
            self.done_at = None
        if self.duration is not None and self.duration.total_seconds() < 0:
            errors["duration"] = "A duration cannot be negative."
        if errors:
            raise ValidationError(errors)

    @property
    def is_overdue(self) -> bool:
        from django.utils import timezone

        return (
            self.kind == self.Kind.TASK and not self.done and self.due_at is not None and self.due_at < timezone.now()
        )


class InteractionTombstone(models.Model):
    """What is left of a deleted interaction for partners' deletions feed: its id, external id and deletion
    time, kept ``API_TOMBSTONE_RETENTION_DAYS`` days (``crm.services.tombstones``).

    Interactions are deleted for good rather than soft-deleted as contacts and companies are: they are read
    through raw SQL (``crm.activity``), joins (segments, analysis) and reverse relations in many places, each
    of which would have to learn to leave deleted rows out. A row here is written for every deletion, however
    it happens (admin, API, the cascade of a contact or company deleted for good)."""

    # The deleted interaction's id (never reused), so the feed pages by (deleted_at, id) like the others.
    id = models.BigIntegerField(primary_key=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    deleted_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The feed pages through (deleted_at, id); the purge drops rows older than the retention.
            models.Index(fields=["deleted_at", "id"], name="crm_interactiontomb_feed_idx"),
        ]

    def __str__(self) -> str:
        return f"Deleted interaction #{self.pk}"

    @property
    def merged_into_id(self) -> None:
        """Tombstones of every resource have the same shape; interactions are never merged."""
        return None
