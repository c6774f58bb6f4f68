from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

PRIORITIES = ("low", "normal", "high", "urgent")  # index = Conversation.Priority value
KINDS = ("first_response", "next_response", "resolution")


def _target(label: str) -> models.PositiveIntegerField:  # type: ignore[type-arg]
    return models.PositiveIntegerField(label, null=True, blank=True, help_text="Business minutes; empty: no target.")


class SlaPolicy(models.Model):
    """Targets in business minutes of the conversation's team (default hours otherwise), per priority.

    ``first_response_urgent`` … ``resolution_low``: an empty target means no clock of that kind at that
    priority. A warning fires ``warning_minutes`` business minutes before the due time, or once
    ``warning_percent`` of the target has elapsed (one of the two, or neither: no warning).
    Applied by the rule action ``apply_sla`` or as a team's default (``Team.sla_policy``); the clocks are
    ``ConversationSla`` rows (``routing.services.sla``).
    """

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(
        "active", default=True, help_text="An inactive policy starts no new clocks; running clocks keep running."
    )
    first_response_low = _target("first response, low")
    next_response_low = _target("next response, low")
    resolution_low = _target("resolution, low")
    first_response_normal = _target("first response, normal")
    next_response_normal = _target("next response, normal")
    resolution_normal = _target("resolution, normal")
    first_response_high = _target("first response, high")
    next_response_high = _target("next response, high")
    resolution_high = _target("resolution, high")
    first_response_urgent = _target("first response, urgent")
    next_response_urgent = _target("next response, urgent")
    resolution_urgent = _target("resolution, urgent")
    warning_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Warn this many business minutes before the due time."
    )
    warning_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Or: warn once this share of the target (1–99 %) has elapsed."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.warning_minutes is not None and self.warning_percent is not None:
            errors["warning_percent"] = ["Warn by minutes before the due time or by percent elapsed, not both."]
        if self.warning_percent is not None and not 1 <= self.warning_percent <= 99:
            errors["warning_percent"] = ["Enter a share from 1 to 99 %."]
        for priority in PRIORITIES:
            targets = {kind: self.target(kind, PRIORITIES.index(priority)) for kind in KINDS}
            resolution = targets["resolution"]
            for kind in ("first_response", "next_response"):
                value = targets[kind]
                if value is not None and resolution is not None and value > resolution:
                    errors.setdefault(f"{kind}_{priority}", []).append(
                        f"Longer than the resolution target ({resolution} min): it could never be met in time."
                    )
            for kind, value in targets.items():
                if value == 0:
                    errors.setdefault(f"{kind}_{priority}", []).append("Enter at least 1 minute, or leave empty.")
                if value is not None and self.warning_minutes is not None and self.warning_minutes >= value:
                    errors.setdefault("warning_minutes", []).append(
                        f"The warning ({self.warning_minutes} min) is not shorter than the {kind.replace('_', ' ')} "
                        f"target at {priority} priority ({value} min)."
                    )
        if not any(self.target(kind, p) for kind in KINDS for p in range(4)):
            errors.setdefault("__all__", []).append("Set at least one target.")
        if errors:
            raise ValidationError({key: list(dict.fromkeys(msgs)) for key, msgs in errors.items()})

    def target(self, kind: str, priority: int) -> int | None:
        """The target of ``kind`` at ``priority`` (0 low … 3 urgent) in business minutes, or ``None``."""
        value: int | None = getattr(self, f"{kind}_{PRIORITIES[min(max(priority, 0), 3)]}")
        return value

    def warning_after(self, target: int) -> float | None:
        """Business minutes after the start at which to warn, for a clock of ``target`` minutes."""
        if self.warning_minutes is not None:
            return float(max(target - self.warning_minutes, 0))
        if self.warning_percent is not None:
            return target * self.warning_percent / 100
        return None


class ConversationSla(models.Model):
    """One SLA clock of a conversation: started, due (in business minutes), met, warned, breached.

    At most one open (not met) clock per conversation and kind. The breach stays recorded when the clock is
    met late (``met_at`` after ``breached_at``): the breaches report counts ``breached_at``.
    """

    class Kind(models.TextChoices):
        FIRST_RESPONSE = "first_response", "First response"
        NEXT_RESPONSE = "next_response", "Next response"
        RESOLUTION = "resolution", "Resolution"

    conversation = models.ForeignKey("social.Conversation", on_delete=models.CASCADE, related_name="sla_clocks")
    # A policy with clocks cannot be deleted: the breaches report needs it (make it inactive instead).
    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT, related_name="clocks")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The priority and team the due time was computed for (the team also groups the report).
    priority = models.PositiveSmallIntegerField()
    team = models.CharField(max_length=100, blank=True)
    target_minutes = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    warn_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SLA clock"
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "kind"], condition=Q(met_at__isnull=True), name="routing_sla_one_open_per_kind"
            ),
        ]
        indexes = [
            # The sweep: open clocks past their due time / warning time. Partial, so met clocks cost nothing.
            models.Index(
                fields=["due_at"],
                condition=Q(met_at__isnull=True, breached_at__isnull=True),
                name="routing_sla_due_idx",
            ),
            models.Index(
                fields=["warn_at"],
                condition=Q(met_at__isnull=True, warned_at__isnull=True, breached_at__isnull=True),
                name="routing_sla_warn_idx",
            ),
            # The breaches report over a date range.
            models.Index(fields=["breached_at"], condition=Q(breached_at__isnull=False), name="routing_sla_breach_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of conversation #{self.conversation_id}"
