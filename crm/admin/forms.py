"""Admin forms: tags typed as text (new ones created on save) and one field per custom attribute."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError

from crm.attributes import validate_attributes
from crm.models import AttributeDefinition, Contact, User
from crm.services.tags import parse_tag_names

ATTR_PREFIX = "attr__"


def attribute_form_field(definition: AttributeDefinition) -> forms.Field:
    common: dict[str, Any] = {"label": definition.label, "required": False, "help_text": definition.help_text}
    kind = AttributeDefinition.Type
    if definition.required and definition.type != kind.BOOLEAN:
        common["required"] = True
    if definition.type == kind.NUMBER:
        return forms.DecimalField(**common)
    if definition.type == kind.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if definition.type == kind.BOOLEAN:
        return forms.NullBooleanField(**common)
    if definition.type == kind.CHOICE:
        return forms.ChoiceField(choices=[("", "—")] + [(c, c) for c in definition.choices], **common)
    return forms.CharField(max_length=500, **common)


class TaggedForm(forms.ModelForm):  # type: ignore[type-arg]
    tag_names = forms.CharField(
        label="Tags",
        required=False,
        help_text="Comma-separated, e.g. vip, newsletter. New tags are created when you save.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tag_names"] = ", ".join(t.name for t in self.instance.tags.all())

    def clean_tag_names(self) -> list[str]:
        names = parse_tag_names(self.cleaned_data.get("tag_names", ""))
        too_long = [n for n in names if len(n) > 64]
        if too_long:
            raise ValidationError(f"Tag names are at most 64 characters: {too_long[0][:20]}…")
        return names


class ContactAdminForm(TaggedForm):
    """``ContactAdmin.get_form`` subclasses this with one declared ``attr__<key>`` field per definition."""

    attribute_definitions: list[AttributeDefinition] = []

    class Meta:
        model = Contact
        fields = (
            "first_name", "last_name", "company", "job_title", "stage", "owner", "source", "preferred_language",
            "external_id",
        )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance.attributes or {}
        for definition in self.attribute_definitions:
            if definition.key in stored:
                self.initial[ATTR_PREFIX + definition.key] = stored[definition.key]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        values: dict[str, Any] = dict(self.instance.attributes or {})
        for definition in self.attribute_definitions:
            name = ATTR_PREFIX + definition.key
            if name in self.errors:
                continue
            value = cleaned.get(name)
            values[definition.key] = str(value) if value is not None and definition.type == "number" else value
        try:
            self.instance.attributes = validate_attributes(values, self.attribute_definitions)
        except ValidationError as exc:
            for message in exc.message_dict.get("attributes", []):
                key, _, text = message.partition(": ")
                field = ATTR_PREFIX + key
                self.add_error(field if field in self.fields else None, text if field in self.fields else message)
        return cleaned


class ContactActionForm(ActionForm):
    """Extra inputs beside the action menu for the bulk actions (assign owner, add tag, change stage)."""

    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_staff=True, is_active=True).order_by("username"), required=False, label="Owner"
    )
    stage = forms.ChoiceField(choices=[("", "— stage —"), *Contact.Stage.choices], required=False, label="Stage")
    tag = forms.CharField(required=False, label="Tag", widget=forms.TextInput(attrs={"size": 12, "placeholder": "tag"}))
