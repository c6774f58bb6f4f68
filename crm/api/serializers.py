"""Serializer pieces every resource shares: unknown fields refused, tags as names, tombstones, bulk answers."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from crm.models import Tag


class StrictModelSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """Refuses fields it does not know (a typo must not be dropped silently); read-only ones are ignored.

    Uniqueness is left to the services (``full_clean``), which check it the way the admin does."""

    def get_validators(self) -> list[Any]:
        return []

    def get_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = super().get_fields()
        for field in fields.values():
            field.validators = [v for v in field.validators if not isinstance(v, UniqueValidator)]
        return fields

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown}, code="unknown_field")
        return super().to_internal_value(data)


def resolve_external_id(attrs: dict[str, Any], name: str, model: type[Model]) -> None:
    """Resolve ``<name>_external_id`` into ``<name>`` (refusing an unknown id or a contradiction)."""
    key = f"{name}_external_id"
    if key not in attrs:
        return
    external_id = attrs.pop(key)
    found = model._default_manager.filter(external_id=external_id).first() if external_id else None
    if external_id and found is None:
        raise serializers.ValidationError({key: [f"No {model._meta.verbose_name} with external id {external_id!r}."]})
    if name in attrs and attrs[name] != found:
        raise serializers.ValidationError({name: [f"Give {name} or {key}, not two different ones."]})
    attrs[name] = found


class TagNamesField(serializers.ListField):
    """Tags as a list of names; writing a list replaces the record's tags (new names are created)."""

    child = serializers.CharField(max_length=64)

    def to_representation(self, data: Any) -> list[str]:
        tags: list[Tag] = list(data.all()) if hasattr(data, "all") else list(data)
        return sorted((t.name for t in tags), key=str.lower)


class TombstoneSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    deleted_at = serializers.DateTimeField()
    merged_into = serializers.IntegerField(source="merged_into_id", allow_null=True, help_text="Set when merged")


class BulkRequestSerializer(serializers.Serializer):  # type: ignore[type-arg]
    records = serializers.ListField(child=serializers.DictField(), help_text="Each with its external_id")


class BulkResultSerializer(serializers.Serializer):  # type: ignore[type-arg]
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "updated", "error"])
    id = serializers.IntegerField(required=False)

    def get_fields(self) -> dict[str, Any]:
        # "errors" cannot be declared as a class attribute: it would hide Serializer.errors.
        fields: dict[str, Any] = super().get_fields()
        fields["errors"] = serializers.ListField(child=serializers.DictField(), required=False)
        return fields


class BulkResponseSerializer(serializers.Serializer):  # type: ignore[type-arg]
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkResultSerializer(many=True)


class ProblemFieldErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    field = serializers.CharField(help_text='Dotted path, e.g. "emails.1.email"; "" for the record as a whole')
    message = serializers.CharField()
    code = serializers.CharField()


class ProblemSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """RFC 9457 problem details, as every API error is answered (``application/problem+json``)."""

    type = serializers.CharField(help_text="urn:scrm:problem:<code>, e.g. urn:scrm:problem:validation_error")
    title = serializers.CharField(help_text="The HTTP status phrase")
    status = serializers.IntegerField()
    detail = serializers.CharField(help_text="What is wrong, in words")

    def get_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = super().get_fields()
        fields["errors"] = ProblemFieldErrorSerializer(many=True, required=False, help_text="Validation errors")
        return fields
