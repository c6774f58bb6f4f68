"""``/api/v1/contacts/``: contacts with e-mail addresses, phones, consents, tags and custom attributes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django_filters import rest_framework as filters
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from crm.admin.search import search_contacts
from crm.api.contact_export import contact_rows
from crm.api.filters import SyncFilter, tagged
from crm.api.resources import SyncResourceViewSet, document_resource
from crm.api.serializers import StrictModelSerializer, TagNamesField, resolve_external_id
from crm.models import Company, Contact, ContactConsent, ContactEmail, ContactPhone, User
from crm.phones import normalize_phone
from crm.services.contact_bulk import contacts_bulk_upsert
from crm.services.contact_writes import contact_create, contact_update, contact_upsert


class ContactEmailSerializer(StrictModelSerializer):
    class Meta:
        model = ContactEmail
        fields = ("email", "label", "is_primary")


class ContactPhoneSerializer(StrictModelSerializer):
    class Meta:
        model = ContactPhone
        fields = ("number", "label", "is_primary")
        extra_kwargs = {"number": {"help_text": "Any format; stored in E.164 (+14155550123)"}}


class ContactConsentSerializer(StrictModelSerializer):
    class Meta:
        model = ContactConsent
        fields = ("channel", "status", "recorded_at", "method", "note")


class ContactSerializer(StrictModelSerializer):
    company = serializers.PrimaryKeyRelatedField(queryset=Company.objects.all(), allow_null=True, required=False)
    company_external_id = serializers.CharField(
        required=False, allow_null=True, help_text="The company's external id; an alternative to company when writing"
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_staff=True, is_active=True), allow_null=True, required=False,
        help_text="A staff member's id",
    )  # fmt: skip
    tags = TagNamesField(required=False, help_text="Tag names; a list replaces the contact's tags")
    attributes = serializers.DictField(
        required=False, help_text="Custom attributes by key; merged into the stored ones (null removes a key)"
    )
    emails = ContactEmailSerializer(many=True, required=False, help_text="A list replaces the stored addresses")
    phones = ContactPhoneSerializer(many=True, required=False, help_text="A list replaces the stored numbers")
    consents = ContactConsentSerializer(many=True, required=False, help_text="A list replaces the stored consents")

    class Meta:
        model = Contact
        fields = (
            "id", "external_id", "first_name", "last_name", "job_title", "stage", "company", "company_external_id",
            "owner", "source", "preferred_language", "tags", "attributes", "emails", "phones", "consents",
            "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = ("id", "created_at", "updated_at")

    def to_representation(self, instance: Contact) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        data["company_external_id"] = instance.company.external_id if instance.company_id else None  # type: ignore[union-attr]
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        resolve_external_id(attrs, "company", Company)
        return attrs


class ContactFilter(SyncFilter):
    stage = filters.MultipleChoiceFilter(choices=Contact.Stage.choices)
    tag = filters.CharFilter(method="filter_tag", help_text="Tag name (any case)")
    owner = filters.NumberFilter(field_name="owner_id", help_text="Staff member id")
    company = filters.NumberFilter(field_name="company_id")
    company_external_id = filters.CharFilter(field_name="company__external_id")
    external_id = filters.CharFilter(field_name="external_id")
    email = filters.CharFilter(method="filter_email", help_text="Exact address (any case)")
    phone = filters.CharFilter(method="filter_phone", help_text="Any format; matched in E.164")
    search = filters.CharFilter(method="filter_search", help_text="As the admin search: name, company, e-mail or phone")

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_tag(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return tagged(queryset, value)

    def filter_email(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return queryset.filter(pk__in=ContactEmail.objects.filter(email=value.strip().lower()).values("contact_id"))

    def filter_phone(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        try:
            number = normalize_phone(value)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"phone": exc.messages}) from None
        return queryset.filter(pk__in=ContactPhone.objects.filter(number=number).values("contact_id"))

    def filter_search(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return search_contacts(queryset, value)


class ContactViewSet(SyncResourceViewSet):
    scope_resource = "contacts"
    scope_model = Contact
    serializer_class = ContactSerializer
    filterset_class = ContactFilter
    create_service = staticmethod(contact_create)
    update_service = staticmethod(contact_update)
    upsert_service = staticmethod(contact_upsert)
    bulk_service = staticmethod(contacts_bulk_upsert)

    def list(self, request: Request, **url_kwargs: Any) -> Response:
        # The page's ids through the cursor, then its rows from plain values (crm.api.contact_export): the
        # same JSON as the serializer's, at a fraction of the cost for a full sync.
        page = self.paginate_queryset(self.filter_queryset(Contact.objects.only("id", "updated_at", "created_at")))
        return self.get_paginated_response(contact_rows([contact.pk for contact in page or []]))

    def get_queryset(self) -> QuerySet[Contact]:
        return Contact.objects.select_related("company").prefetch_related(
            Prefetch("emails", queryset=ContactEmail.objects.order_by("-is_primary", "id")),
            Prefetch("phones", queryset=ContactPhone.objects.order_by("-is_primary", "id")),
            "consents",
            "tags",
        )


document_resource(ContactViewSet, "contact", "contacts")
