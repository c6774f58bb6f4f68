"""Segments: a filter edited through ordinary form fields, its members one click away on the contact list.

The members of a segment are listed, counted and exported by the contact list itself
(``/admin/crm/contact/?segment=<id>``, see ``SegmentFilter``), so every column, filter, search and bulk action
of that list works on them too.

Member counts on the segment list: a static segment's count is one subquery annotation for the whole page;
a dynamic one would cost a full evaluation per row, so the list links to its members instead and its change
page shows the count.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from crm.admin.base import AuditedAdmin
from crm.admin.importing import export_csv, export_xlsx
from crm.models import AttributeDefinition, ConsentChannel, Contact, ContactAnalysis, ContactConsent, Segment, Tag, User
from crm.models import SegmentMember as Member
from crm.services.segments import (
    RECENCY_KEYS,
    segment_count,
    segment_definition_validate,
    segment_freeze,
    segment_member_condition,
    segment_members,
)

PREVIEW_SIZE = 20
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}
# Definition key -> the form field its errors belong to.
FIELD_FOR_KEY = {
    "stages": "stages", "tags_any": "tags_any", "tags_all": "tags_all", "owner": "owners", "owners": "owners",
    "rfm_segments": "rfm_segments", "spend_min": "spend_min", "spend_max": "spend_max",
    **{key: key for key in RECENCY_KEYS}, "attributes": "attributes", "consent": "consent_channel",
}  # fmt: skip
FILTER_FIELDS = (
    "stages", "tags_any", "tags_all", "owners", "rfm_segments", ("spend_min", "spend_max"),
    ("purchased_within_days", "not_purchased_for_days"), ("interacted_within_days", "not_interacted_for_days"),
    "attributes", ("consent_channel", "consent_status"),
)  # fmt: skip


def members_url(segment: Segment) -> str:
    return f"{reverse('admin:crm_contact_changelist')}?segment={segment.pk}"


def _days_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, help_text="days")


class SegmentAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """Edits ``Segment.definition`` through one field per filter; ``segment_definition_validate`` decides."""

    stages = forms.MultipleChoiceField(
        choices=Contact.Stage.choices, required=False, widget=forms.SelectMultiple(attrs={"size": 4})
    )
    tags_any = forms.ModelMultipleChoiceField(
        Tag.objects.all(), required=False, label="Has any of the tags", widget=FilteredSelectMultiple("tags", False)
    )
    tags_all = forms.ModelMultipleChoiceField(
        Tag.objects.all(), required=False, label="Has all of the tags", widget=FilteredSelectMultiple("tags", False)
    )
    owners = forms.ModelMultipleChoiceField(
        User.objects.filter(is_staff=True).order_by("username"),
        required=False,
        label="Owned by",
        widget=FilteredSelectMultiple("owners", False),
    )
    rfm_segments = forms.MultipleChoiceField(
        choices=ContactAnalysis.Segment.choices,
        required=False,
        label="RFM segments",
        widget=forms.SelectMultiple(attrs={"size": len(ContactAnalysis.Segment.choices)}),
    )
    spend_min = forms.DecimalField(label="Total spend at least", required=False)
    spend_max = forms.DecimalField(label="Total spend at most", required=False)
    purchased_within_days = _days_field("Purchased in the last")
    not_purchased_for_days = _days_field("No purchase in the last")
    interacted_within_days = _days_field("Interaction in the last")
    not_interacted_for_days = _days_field("No interaction in the last")
    attributes = forms.CharField(
        label="Custom attributes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        help_text="One key=value per line, e.g. loyalty_tier=gold (all must match; yes/no for yes-no attributes).",
    )
    consent_channel = forms.ChoiceField(
        choices=[("", "— any —"), *ConsentChannel.choices], required=False, label="Consent on channel"
    )
    consent_status = forms.ChoiceField(
        choices=ContactConsent.Status.choices, required=False, initial=ContactConsent.Status.OPTED_IN, label="Status"
    )

    class Meta:
        model = Segment
        fields = ("name", "description")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.update(self._initial_filters(self.instance.definition or {}))
        if self.instance.kind == Segment.Kind.STATIC:
            for name in FIELD_FOR_KEY.values():
                self.fields[name].disabled = True
            self.fields["consent_status"].disabled = True

    @staticmethod
    def _initial_filters(definition: dict[str, Any]) -> dict[str, Any]:
        initial = {key: definition[key] for key in ("stages", "rfm_segments", *RECENCY_KEYS) if key in definition}
        initial.update(
            {key: [t for t in definition.get(key, []) if isinstance(t, int)] for key in ("tags_any", "tags_all")}
        )
        initial["owners"] = [*definition.get("owners", []), *([definition["owner"]] if "owner" in definition else [])]
        for key in ("spend_min", "spend_max"):
            if key in definition:
                initial[key] = Decimal(str(definition[key]))
        initial["attributes"] = "\n".join(
            f"{key}={('yes' if value else 'no') if isinstance(value, bool) else value}"
            for key, value in (definition.get("attributes") or {}).items()
        )
        if consent := definition.get("consent"):
            initial["consent_channel"], initial["consent_status"] = consent["channel"], consent.get("status")
        return initial

    def clean_attributes(self) -> dict[str, Any]:
        pairs: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data.get("attributes", "").splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                raise ValidationError(f"Line {number}: write key=value, e.g. loyalty_tier=gold.")
            if key in pairs:
                raise ValidationError(f"Line {number}: {key} is given twice.")
            pairs[key] = value
        # Typed as text; yes/no attributes take real booleans (numbers and dates are parsed by the service).
        booleans = set(
            AttributeDefinition.objects.filter(key__in=pairs, type=AttributeDefinition.Type.BOOLEAN).values_list(
                "key", flat=True
            )
        )
        typed: dict[str, Any] = dict(pairs)
        for key in booleans:
            word = pairs[key].lower()
            typed[key] = True if word in TRUE_WORDS else False if word in FALSE_WORDS else pairs[key]
        return typed

    def definition_from_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        definition: dict[str, Any] = {}
        for key in ("stages", "rfm_segments", "attributes"):
            if data.get(key):
                definition[key] = data[key]
        for key in ("tags_any", "tags_all", "owners"):
            if data.get(key):
                definition[key] = [obj.pk for obj in data[key]]
        for key in ("spend_min", "spend_max"):
            if data.get(key) is not None:
                definition[key] = str(data[key])
        for key in RECENCY_KEYS:
            if data.get(key) is not None:
                definition[key] = data[key]
        if data.get("consent_channel"):
            status = data.get("consent_status") or ContactConsent.Status.OPTED_IN
            definition["consent"] = {"channel": data["consent_channel"], "status": status}
        return definition

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.kind == Segment.Kind.STATIC:
            return cleaned  # a snapshot's filter is history, not a setting
        if any(name in self.errors for name in FIELD_FOR_KEY.values()):
            return cleaned  # a field that did not parse would silently drop out of the filter
        try:
            self.instance.definition = segment_definition_validate(self.definition_from_fields())
        except ValidationError as exc:
            for key, problems in exc.message_dict.items():
                field = FIELD_FOR_KEY.get(key)
                for problem in problems:
                    self.add_error(field, problem.removeprefix(f"{key}: ") if field else problem)
        return cleaned


@admin.register(Segment)
class SegmentAdmin(AuditedAdmin):
    form = SegmentAdminForm
    list_display = ("name", "kind", "member_count", "members_link", "frozen_from", "frozen_at", "owner", "updated_at")
    list_filter = ("kind",)
    list_select_related = ("owner", "frozen_from")
    search_fields = ("name",)
    readonly_fields = ("kind", "owner", "frozen_from", "frozen_at", "members_preview", "created_at", "updated_at")
    actions = ("freeze", "export_members_csv", "export_members_xlsx")
    list_per_page = 50

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        about: tuple[Any, ...] = ("name", "description")
        if obj is not None:
            about += ("kind", "owner")
            if obj.kind == Segment.Kind.STATIC:
                about += (("frozen_from", "frozen_at"),)
        fieldsets: list[Any] = [
            (None, {"fields": about}),
            (
                "Who is in it (all the filters you fill in must match)",
                {
                    "fields": FILTER_FIELDS,
                    "description": "A static segment (a frozen snapshot) keeps the filter it was frozen from, for "
                    "reference; its members never change."
                    if obj is not None and obj.kind == Segment.Kind.STATIC
                    else "Evaluated whenever the segment is used. Leave everything empty for all contacts.",
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(("Members", {"fields": ("members_preview",)}))
            fieldsets.append(("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}))
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> QuerySet[Segment]:
        alive = Member.objects.filter(segment=OuterRef("pk"), contact__deleted_at__isnull=True)
        counted = alive.order_by().values("segment").annotate(n=Count("pk")).values("n")
        segments: QuerySet[Segment] = (
            super()
            .get_queryset(request)
            .annotate(static_member_count=Coalesce(Subquery(counted, output_field=IntegerField()), Value(0)))
        )
        return segments

    def save_model(self, request: HttpRequest, obj: Segment, form: Any, change: bool) -> None:
        if not change:
            obj.owner = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    @admin.display(description="Members")
    def member_count(self, obj: Segment) -> Any:
        if obj.kind == Segment.Kind.STATIC:
            return obj.static_member_count  # type: ignore[attr-defined]
        return format_html('<a href="{}">dynamic — see members</a>', members_url(obj))

    @admin.display(description="")
    def members_link(self, obj: Segment) -> SafeString:
        return format_html('<a class="button" href="{}">Members</a>', members_url(obj))

    @admin.display(description="Members")
    def members_preview(self, obj: Segment) -> SafeString:
        try:
            count = segment_count(obj)
            first = list(segment_members(obj).order_by("last_name", "first_name", "pk")[:PREVIEW_SIZE])
        except ValidationError as exc:  # a definition changed outside the admin and no longer valid
            return format_html("<strong>This filter cannot be evaluated:</strong> {}", "; ".join(exc.messages))
        when = "now (dynamic: evaluated each time)" if obj.kind == Segment.Kind.DYNAMIC else "(frozen list)"
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a></li>',
            ((reverse("admin:crm_contact_change", args=[c.pk]), str(c)) for c in first),
        )
        shown = f"; the first {len(first)} by name" if count > len(first) else ""
        return format_html(
            '<p><strong>{} member(s)</strong> {}{}. <a class="button" href="{}">Open all in the contact list</a>'
            " — filter, select all and export from there.</p><ol>{}</ol>",
            count,
            when,
            shown,
            members_url(obj),
            items,
        )

    @admin.action(description="Freeze a snapshot (static list)", permissions=["add"])
    def freeze(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        for segment in queryset:
            try:
                snapshot = segment_freeze(segment=segment, actor=request.user)  # type: ignore[arg-type]
            except ValidationError as exc:
                self.message_user(request, f"“{segment}” not frozen: {'; '.join(exc.messages)}", messages.ERROR)
                continue
            link = reverse("admin:crm_segment_change", args=[snapshot.pk])
            self.message_user(
                request,
                format_html(
                    'Froze “{}”: {} member(s) in <a href="{}">{}</a>.', segment, segment_count(snapshot), link, snapshot
                ),
                messages.SUCCESS,
            )

    # Exports go through the contact list's export (same columns, same streaming); several selected segments
    # export the contacts in any of them, each once.
    @admin.action(description="Export members to CSV", permissions=["view"])
    def export_members_csv(self, request: HttpRequest, queryset: QuerySet[Segment]) -> HttpResponseBase:
        return export_csv(self, request, self._members_of(queryset))

    @admin.action(description="Export members to XLSX", permissions=["view"])
    def export_members_xlsx(self, request: HttpRequest, queryset: QuerySet[Segment]) -> HttpResponseBase:
        return export_xlsx(self, request, self._members_of(queryset))

    def _members_of(self, segments: QuerySet[Segment]) -> QuerySet[Contact]:
        condition = Q(pk__in=[])
        for segment in segments:
            condition |= segment_member_condition(segment)
        return Contact.objects.filter(condition)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # Django would list every frozen membership row; a count says the same for a 100,000-member snapshot.
        segments = list(objs)
        frozen = dict(
            Member.objects.filter(segment__in=segments).values_list("segment").annotate(n=Count("pk")).order_by()
        )
        lines = [
            f"Segment: {s}"
            + (f" (a frozen list of {frozen[s.pk]} contact(s); the contacts stay)" if s.pk in frozen else "")
            for s in segments
        ]
        return lines, {Segment._meta.verbose_name_plural: len(segments)}, set(), []
