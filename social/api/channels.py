"""``/api/v1/channels/`` (read, never the credentials or the webhook key) and a contact's identities
(``/api/v1/contacts/<id>/identities/``: who the contact is on each channel)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from rest_framework import serializers

from crm.api.filters import UpdatedSinceFilter
from crm.api.resources import SyncReadViewSet, document_resource
from crm.models import Contact
from social.models import Channel, Identity


class ChannelSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = Channel
        # Deliberately a short list: config may hold provider ids and credentials are secret; neither is shown.
        fields = ("id", "kind", "name", "active", "team", "created_at", "updated_at")
        read_only_fields = fields


class ChannelFilter(UpdatedSinceFilter):
    kind = filters.MultipleChoiceFilter(choices=Channel.Kind.choices)
    active = filters.BooleanFilter(field_name="is_active")
    team = filters.CharFilter(field_name="team")

    class Meta:
        model = Channel
        fields: list[str] = []


class ChannelViewSet(SyncReadViewSet):
    scope_resource = "channels"
    scope_model = Channel
    serializer_class = ChannelSerializer
    filterset_class = ChannelFilter

    def get_queryset(self) -> QuerySet[Channel]:
        return Channel.objects.defer("config")


class IdentitySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    channel_kind = serializers.CharField(source="channel.kind", read_only=True)

    class Meta:
        model = Identity
        fields = ("id", "channel", "channel_kind", "external_id", "handle", "display_name", "created_at")
        read_only_fields = fields


class IdentityViewSet(SyncReadViewSet):
    """Read under the contacts scope: an identity is part of the contact record."""

    scope_resource = "contacts"
    scope_model = Contact
    serializer_class = IdentitySerializer
    filterset_class = None
    # Identities are not edited through the API; they page by creation.
    sync_orderings = ("created_at",)

    def get_queryset(self) -> QuerySet[Identity]:
        contact_pk: Any = self.kwargs.get("contact_pk")
        if getattr(self, "swagger_fake_view", False):
            return Identity.objects.none()
        contact = get_object_or_404(Contact.objects.only("pk"), pk=contact_pk)
        return Identity.objects.select_related("channel").filter(contact=contact)


document_resource(ChannelViewSet, "channel", "channels")
document_resource(IdentityViewSet, "identity", "identities of a contact")
