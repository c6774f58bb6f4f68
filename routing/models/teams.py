from __future__ import annotations

from typing import Any

from django.conf import global_settings, settings
from django.core.exceptions import ValidationError
from django.db import models

LANGUAGE_CODES = frozenset(code for code, _name in global_settings.LANGUAGES)


class Strategy(models.TextChoices):
    """How ``routing.services.assignment.agent_pick`` chooses among the agents who have room."""

    ROUND_ROBIN = "round_robin", "Round robin"
    LEAST_LOADED = "least_loaded", "Least loaded (open conversations / capacity)"
    SKILLS = "skills", "Skills and language match"
    STICKY = "sticky", "Sticky (the agent who last served the contact)"


class Team(models.Model):
    """A group of agents that conversations are routed to.

    Social's ``Channel.team`` and ``Conversation.team`` still hold the team's *name* (a plain text column): a
    team is referenced by name until those become foreign keys, which is why renaming a team is refused
    while conversations or channels use the old name (``routing.services.teams``).
    """

    name = models.CharField(max_length=100, unique=True)
    business_hours = models.ForeignKey(
        "routing.BusinessHours",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="teams",
        help_text="Leave empty to use the default business hours.",
    )
    strategy = models.CharField(
        "assignment strategy",
        max_length=16,
        choices=Strategy.choices,
        default=Strategy.LEAST_LOADED,
        help_text="How an agent is chosen when a conversation is routed to the team or the queue is drained.",
    )
    release_on_offline = models.BooleanField(
        "release an offline agent's conversations",
        default=False,
        help_text="When an agent of this team goes offline, their open conversations of this team go back to "
        "the queue (and to another agent with room).",
    )
    sla_policy = models.ForeignKey(
        "routing.SlaPolicy",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="teams",
        verbose_name="default SLA policy",
        help_text="Applied to conversations moved to this team that have no SLA policy yet.",
    )
    members = models.ManyToManyField("routing.AgentProfile", through="routing.TeamMembership", related_name="teams")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    """A staff user's routing settings: availability, capacity, skills and languages.

    Capacity counts the agent's *open* conversations (every status but resolved, see
    ``routing.services.assignment.agent_loads``): ``capacity`` overall, and optionally per channel kind in
    ``channel_capacity`` (``{"whatsapp": 2}``; a kind not listed is limited by the overall capacity only).
    """

    class Availability(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"  # keeps their conversations, receives no new ones
        OFFLINE = "offline", "Offline"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="agent_profile",
        limit_choices_to={"is_staff": True},
    )
    availability = models.CharField(max_length=8, choices=Availability.choices, default=Availability.OFFLINE)
    availability_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    capacity = models.PositiveSmallIntegerField(
        default=5, help_text="Most open conversations at once (0: receives none by routing)."
    )
    channel_capacity = models.JSONField(
        "capacity per channel kind",
        default=dict,
        blank=True,
        help_text='Optional limits per channel kind, e.g. {"whatsapp": 2, "email": 10}.',
    )
    skills = models.JSONField(default=list, blank=True, help_text="Tags such as billing, returns, vip.")
    languages = models.JSONField(default=list, blank=True, help_text="Language codes such as en, es, pt-br.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return str(self.user)

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        for name, check in (
            ("channel_capacity", clean_channel_capacity),
            ("skills", clean_skills),
            ("languages", clean_languages),
        ):
            try:
                setattr(self, name, check(getattr(self, name)))
            except ValidationError as exc:
                errors[name] = exc.messages
        if self.user_id is not None and not self.user.is_staff:
            errors["user"] = ["Only staff users can be agents."]
        if errors:
            raise ValidationError(errors)

    def capacity_for(self, kind: str) -> int | None:
        """The per-kind limit for channel ``kind``, or ``None`` when only the overall capacity applies."""
        value = self.channel_capacity.get(kind) if isinstance(self.channel_capacity, dict) else None
        return value if isinstance(value, int) else None


class TeamMembership(models.Model):
    """An agent in a team. ``last_assigned_at`` is the round-robin cursor: the member assigned longest ago
    (never first) is next; it is written under the agent's row lock."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="memberships")
    last_assigned_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "agent"], name="routing_membership_once")]

    def __str__(self) -> str:
        return f"{self.agent} in {self.team}"


def clean_channel_capacity(value: Any) -> dict[str, int]:
    """``{kind: max}`` with known channel kinds and whole numbers from 0, or a ``ValidationError``."""
    from social.models import Channel

    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError('Enter an object such as {"whatsapp": 2, "email": 10}.')
    problems = []
    for kind, limit in value.items():
        if kind not in Channel.Kind.values:
            problems.append(f"“{kind}” is not a channel kind (one of: {', '.join(Channel.Kind.values)}).")
        elif isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            problems.append(f"The limit for {kind} must be a whole number from 0, not {limit!r}.")
    if problems:
        raise ValidationError(problems)
    return {str(k): int(v) for k, v in sorted(value.items())}


def _strings(value: Any, what: str) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(f"Enter a list of {what}.")
    seen: list[str] = []
    for item in value:
        cleaned = item.strip().lower()
        if cleaned and cleaned not in seen:
            seen.append(cleaned)
    return seen


def clean_skills(value: Any) -> list[str]:
    """Skills as lower-case tags, duplicates and blanks dropped."""
    skills = _strings(value, "skills")
    too_long = [s for s in skills if len(s) > 50]
    if too_long:
        raise ValidationError(f"A skill has at most 50 characters: {too_long[0][:60]}…")
    return skills


def clean_languages(value: Any) -> list[str]:
    """Language codes known to Django (ISO 639-1, with regional variants such as pt-br), the same codes a
    contact's preferred language uses, so that matching compares like with like."""
    languages = _strings(value, "language codes")
    unknown = [code for code in languages if code not in LANGUAGE_CODES]
    if unknown:
        raise ValidationError(f"Unknown language code(s): {', '.join(unknown)} (use codes such as en, es, pt-br).")
    return languages
