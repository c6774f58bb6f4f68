"""Teams, agents and the queue in the admin.

Availability changes made here go through ``agent_set_availability`` (queues drained, conversations
released as the teams say); capacity, skills and languages are validated by the model's ``clean``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.timesince import timesince

from crm.admin.base import AuditedAdmin
from routing.models import AgentProfile, QueueEntry, Team, TeamMembership
from routing.services.agents import agent_set_availability
from routing.services.assignment import team_queue_drain
from social.models import Channel, Conversation


class CommaSeparatedField(forms.CharField):
    """A list of strings typed as ``a, b, c``; the model's ``clean`` normalises and validates the items."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [item.strip() for item in text.split(",") if item.strip()]


class AgentProfileForm(forms.ModelForm):  # type: ignore[type-arg]
    skills = CommaSeparatedField(required=False, help_text="Comma-separated tags, e.g. billing, returns, vip.")
    languages = CommaSeparatedField(required=False, help_text="Comma-separated language codes, e.g. en, es, pt-br.")

    class Meta:
        model = AgentProfile
        fields = ("user", "availability", "capacity", "channel_capacity", "skills", "languages")


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = TeamMembership
    extra = 1
    autocomplete_fields = ("agent",)
    readonly_fields = ("last_assigned_at",)
    verbose_name = "member"
    verbose_name_plural = "members"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TeamMembership]:
        # Each row shows its agent (and the agent's user): joined here, not read per row.
        return super().get_queryset(request).select_related("agent__user", "team")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "agent":
            kwargs["queryset"] = AgentProfile.objects.select_related("user")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TeamForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Team
        fields = ("name", "business_hours", "strategy", "release_on_offline", "sla_policy")

    def clean_name(self) -> str:
        """A team is referenced by its name in social's channels and conversations: renaming it while they
        use the old name would cut them off, so it is refused with the numbers."""
        name: str = self.cleaned_data["name"].strip()
        old = self.instance.name if self.instance.pk else None
        if old is not None and name != old:
            channels = Channel.objects.filter(team=old).count()
            conversations = Conversation.objects.filter(team=old).count()
            if channels or conversations:
                raise ValidationError(
                    f"{channels} channel(s) and {conversations} conversation(s) use the name “{old}”; "
                    "move them to another team first."
                )
        return name


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    form = TeamForm
    list_display = ("name", "strategy", "business_hours", "release_on_offline", "member_count", "waiting")
    list_filter = ("strategy", "release_on_offline")
    list_select_related = ("business_hours",)
    search_fields = ("name",)
    autocomplete_fields = ("business_hours",)
    inlines = [MembershipInline]
    actions = ["drain_queue"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        queryset: QuerySet[Team] = super().get_queryset(request)
        return queryset.annotate(
            member_total=Count("memberships", distinct=True), waiting_total=Count("queue", distinct=True)
        )

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj: Any) -> int:
        return int(obj.member_total)

    @admin.display(description="waiting", ordering="waiting_total")
    def waiting(self, obj: Any) -> int:
        return int(obj.waiting_total)

    @admin.action(description="Assign waiting conversations now (oldest first)", permissions=["change"])
    def drain_queue(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        for team in queryset:
            assigned = team_queue_drain(team=team)
            left = QueueEntry.objects.filter(team=team).count()
            self.message_user(request, f"{team.name}: {assigned} assigned, {left} still waiting.", messages.SUCCESS)


@admin.register(AgentProfile)
class AgentProfileAdmin(AuditedAdmin):
    form = AgentProfileForm
    list_display = (
        "user",
        "availability",
        "availability_changed_at",
        "open_conversations",
        "capacity",
        "skill_list",
        "language_list",
    )
    list_filter = ("availability", "teams")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__first_name", "user__last_name", "user__email")
    autocomplete_fields = ("user",)
    readonly_fields = ("availability_changed_at",)
    actions = ["make_online", "make_away", "make_offline"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentProfile]:
        queryset: QuerySet[AgentProfile] = super().get_queryset(request)
        open_conversations = ~Q(user__assigned_conversations__status=Conversation.Status.RESOLVED)
        return queryset.annotate(open_total=Count("user__assigned_conversations", filter=open_conversations))

    @admin.display(description="open", ordering="open_total")
    def open_conversations(self, obj: Any) -> int:
        return int(obj.open_total)

    @admin.display(description="skills")
    def skill_list(self, obj: AgentProfile) -> str:
        return ", ".join(obj.skills) or "—"

    @admin.display(description="languages")
    def language_list(self, obj: AgentProfile) -> str:
        return ", ".join(obj.languages) or "—"

    def save_model(self, request: HttpRequest, obj: AgentProfile, form: forms.ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        """Everything but availability is a plain save; availability goes through its service."""
        wanted = obj.availability
        if change:
            obj.availability = AgentProfile.objects.values_list("availability", flat=True).get(pk=obj.pk)
            obj.save(update_fields=["user", "capacity", "channel_capacity", "skills", "languages", "updated_at"])
        else:
            obj.availability = AgentProfile.Availability.OFFLINE
            obj.save()
        updated = agent_set_availability(agent=obj, availability=wanted, actor=request.user)  # type: ignore[arg-type]
        obj.availability, obj.availability_changed_at = updated.availability, updated.availability_changed_at

    def _set(self, request: HttpRequest, queryset: QuerySet[AgentProfile], availability: str) -> None:
        for agent in queryset:
            agent_set_availability(agent=agent, availability=availability, actor=request.user)  # type: ignore[arg-type]
        label = AgentProfile.Availability(availability).label.lower()
        self.message_user(request, f"{queryset.count()} agent(s) set {label}.", messages.SUCCESS)

    @admin.action(description="Set online", permissions=["change"])
    def make_online(self, request: HttpRequest, queryset: QuerySet[AgentProfile]) -> None:
        self._set(request, queryset, AgentProfile.Availability.ONLINE)

    @admin.action(description="Set away", permissions=["change"])
    def make_away(self, request: HttpRequest, queryset: QuerySet[AgentProfile]) -> None:
        self._set(request, queryset, AgentProfile.Availability.AWAY)

    @admin.action(description="Set offline", permissions=["change"])
    def make_offline(self, request: HttpRequest, queryset: QuerySet[AgentProfile]) -> None:
        self._set(request, queryset, AgentProfile.Availability.OFFLINE)


@admin.register(QueueEntry)
class QueueEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The waiting conversations, oldest first; read-only (routing writes the queue)."""

    list_display = ("conversation", "team", "queued_at", "waiting_for")
    list_filter = ("team",)
    list_select_related = ("conversation", "team")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="waiting for")
    def waiting_for(self, obj: QueueEntry) -> str:
        return timesince(obj.queued_at, timezone.now())
