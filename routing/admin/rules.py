"""Rules and routing runs in the admin.

A rule's conditions and actions are JSON, validated strictly when saved (``Rule.clean`` →
``routing.engine.schema.rule_clean``): every problem is listed under its field. The edit page shows the
schema reference and links to "Test this rule" (``…/test/``), which evaluates the rule against a sample
message typed into a form and shows the trace, changing nothing. Routing runs are read-only; the
conversation page shows its latest runs (``{% routing_runs %}``) and links here for the rest.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from crm.admin.base import AuditedAdmin
from crm.models import Contact, ContactAnalysis
from routing.admin.teams import CommaSeparatedField
from routing.engine.action_schema import ACTION_TYPES
from routing.engine.context import Context
from routing.engine.schema import CONDITION_FIELDS
from routing.engine.templates import VARIABLES
from routing.models import RoutingRun, Rule, Team
from routing.services.dry_run import DryRunError, candidate_rules, dry_run, report_lines
from routing.services.rules import rule_try
from social.models import Channel, Conversation


class PrettyJSONField(forms.JSONField):
    """Shows stored JSON indented, so that a rule reads like the documentation."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class RuleForm(forms.ModelForm):  # type: ignore[type-arg]
    conditions = PrettyJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 100, "style": "font-family: monospace"}),
        help_text='{"match": "all" | "any", "conditions": [...]}; empty: every conversation. See the reference below.',
    )
    actions = PrettyJSONField(
        widget=forms.Textarea(attrs={"rows": 10, "cols": 100, "style": "font-family: monospace"}),
        help_text='A list run in order, e.g. [{"type": "assign_team", "team": 1}, {"type": "reply", "template": "…"}].',
    )

    class Meta:
        model = Rule
        fields = (
            "name",
            "position",
            "is_active",
            "trigger",
            "idle_minutes",
            "idle_waiting_for",
            "conditions",
            "actions",
            "stop_processing",
        )

    def clean_conditions(self) -> Any:
        # An empty box means "no conditions" (every conversation), not a missing value.
        value = self.cleaned_data.get("conditions")
        return {} if value in (None, "") else value


class RuleTestForm(forms.Form):
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=4000)
    channel_kind = forms.ChoiceField(choices=Channel.Kind.choices, initial=Channel.Kind.TELEGRAM)
    channel = forms.ModelChoiceField(Channel.objects.all(), required=False, help_text="Optional: a specific channel.")
    language = forms.CharField(required=False, max_length=16, help_text="Detected language, e.g. en, es.")
    sentiment = forms.FloatField(required=False, min_value=-1, max_value=1, help_text="-1 (negative) … 1.")
    first_message = forms.BooleanField(required=False, initial=True)
    message_count = forms.IntegerField(min_value=0, initial=1)
    contact_stage = forms.ChoiceField(choices=Contact.Stage.choices, initial=Contact.Stage.LEAD)
    contact_tags = CommaSeparatedField(required=False, help_text="Comma-separated.")
    rfm_segment = forms.ChoiceField(choices=[("", "—"), *ContactAnalysis.Segment.choices], required=False)
    attributes = forms.JSONField(required=False, help_text='Custom attributes, e.g. {"plan": "gold"}.')
    status = forms.ChoiceField(choices=Conversation.Status.choices, initial=Conversation.Status.OPEN)
    priority = forms.TypedChoiceField(choices=Conversation.Priority.choices, coerce=int, initial=1)
    labels = CommaSeparatedField(required=False, help_text="Comma-separated.")
    team = forms.ModelChoiceField(Team.objects.all(), required=False, help_text="The conversation's team.")
    at = forms.DateTimeField(required=False, help_text="When (default: now), for business hours and time of day.")

    def clean_attributes(self) -> dict[str, Any]:
        value = self.cleaned_data.get("attributes") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError('Enter an object such as {"plan": "gold"}.')
        return value

    def context(self) -> Context:
        data = self.cleaned_data
        channel = data.get("channel")
        team = data.get("team")
        return Context(
            now=data.get("at") or timezone.now(),
            text=data.get("text") or "",
            channel_id=channel.pk if channel else None,
            channel_kind=channel.kind if channel else data["channel_kind"],
            channel_name=channel.name if channel else "",
            language=(data.get("language") or "").strip().lower(),
            sentiment=data.get("sentiment"),
            first_message=bool(data.get("first_message")),
            message_count=data.get("message_count") or 0,
            contact_first_name="Sample",
            contact_last_name="Customer",
            contact_stage=data["contact_stage"],
            contact_tags=frozenset(tag.casefold() for tag in data.get("contact_tags") or []),
            rfm_segment=data.get("rfm_segment") or "",
            attributes=data.get("attributes") or {},
            status=data["status"],
            priority=data["priority"],
            labels=tuple(data.get("labels") or []),
            team=team.name if team else "",
        )


class DryRunForm(forms.Form):
    days = forms.IntegerField(
        label="Last N days", min_value=1, max_value=90, initial=7, help_text="Replay the messages of the last N days."
    )
    definitions = PrettyJSONField(
        label="Unsaved changes (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 100, "style": "font-family: monospace"}),
        help_text='A list of rule definitions as on the edit page, e.g. [{"id": 3, "name": "…", "conditions": {…}, '
        '"actions": […]}]: with "id" it replaces that rule in the dry run, without it is added.',
    )


@admin.register(Rule)
class RuleAdmin(AuditedAdmin):
    form = RuleForm
    change_form_template = "admin/routing/rule/change_form.html"
    list_display = ("name", "position", "is_active", "trigger", "condition_count", "action_list", "stop_processing")
    list_display_links = ("name",)
    list_editable = ("position", "is_active")
    list_filter = ("is_active", "trigger")
    search_fields = ("name",)
    ordering = ("position", "id")
    actions = ["dry_run"]

    @admin.action(description="Dry run selected rules over the last N days…", permissions=["view"])
    def dry_run(self, request: HttpRequest, queryset: QuerySet[Rule]) -> HttpResponse:
        """Replay the last N days of messages against the selected rules (active or not) and any unsaved
        changes; shows the differences with what happened, changing nothing (``routing.services.dry_run``)."""
        ids = sorted(queryset.values_list("pk", flat=True))
        form = DryRunForm(request.POST if "run" in request.POST else None)
        report = None
        if form.is_bound and form.is_valid():
            until = timezone.now()
            since = until - dt.timedelta(days=form.cleaned_data["days"])
            definitions = form.cleaned_data.get("definitions")
            try:
                rules = candidate_rules(rule_ids=ids, definitions=definitions or None)
                report = dry_run(since=since, until=until, rules=rules)
            except DryRunError as exc:
                for line in str(exc).splitlines():
                    form.add_error("definitions" if definitions else None, line)
        context = {
            **self.admin_site.each_context(request),
            "title": "Dry run",
            "opts": self.model._meta,
            "rules": list(queryset.order_by("position", "id")),
            "ids": ids,
            "form": form,
            "report": report,
            "report_text": "\n".join(report_lines(report)) if report is not None else "",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/routing/rule/dry_run.html", context)

    @admin.display(description="conditions")
    def condition_count(self, obj: Rule) -> int:
        groups = (obj.conditions or {}).get("conditions", []) if isinstance(obj.conditions, dict) else []
        return sum(len(c.get("conditions", [])) if "match" in c else 1 for c in groups if isinstance(c, dict))

    @admin.display(description="actions")
    def action_list(self, obj: Rule) -> str:
        return ", ".join(str(a.get("type")) for a in obj.actions or [] if isinstance(a, dict))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().change_view(request, object_id, form_url, {**self._reference(), **(extra_context or {})})

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().add_view(request, form_url, {**self._reference(), **(extra_context or {})})

    def _reference(self) -> dict[str, Any]:
        return {
            "condition_fields": list(CONDITION_FIELDS.items()),
            "action_types": list(ACTION_TYPES.items()),
            "template_variables": list(VARIABLES.items()),
        }

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path("<int:rule_id>/test/", self.admin_site.admin_view(self.test_view), name="routing_rule_test"),
        ]
        return custom + super().get_urls()

    def test_view(self, request: HttpRequest, rule_id: int) -> HttpResponse:
        """Evaluate the saved rule (active or not) against a sample typed into the form; changes nothing."""
        rule = Rule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise Http404("No such rule")
        if not self.has_view_or_change_permission(request, rule):
            raise PermissionDenied
        form = RuleTestForm(request.GET or None)
        result = rule_try(rule=rule, ctx=form.context()) if form.is_bound and form.is_valid() else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test the rule “{rule}”",
            "opts": self.model._meta,
            "rule": rule,
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/routing/rule/test.html", context)


@admin.register(RoutingRun)
class RoutingRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "created_at", "conversation", "event_list", "rules_matched", "actions_failed", "duration_ms")
    list_filter = ("created_at",)
    list_select_related = ("conversation",)
    fields = ("conversation", "message", "key", "created_at", "duration_ms")
    readonly_fields = fields
    search_fields = ("=conversation__id",)
    date_hierarchy = "created_at"

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # ``conversation__id__exact`` in the URL (the conversation page's link) filters by conversation.
        return lookup == "conversation__id__exact" or super().lookup_allowed(lookup, value, request)  # type: ignore[arg-type]

    @admin.display(description="events")
    def event_list(self, obj: RoutingRun) -> str:
        return ", ".join(obj.events)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
