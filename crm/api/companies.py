"""``/api/v1/companies/``."""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from rest_framework import serializers

from crm.admin.search import search_companies
from crm.api.filters import SyncFilter, tagged
from crm.api.resources import SyncResourceViewSet, document_resource
from crm.api.serializers import StrictModelSerializer, TagNamesField
from crm.models import Company, User
from crm.services.company_writes import company_create, company_update, company_upsert


class CompanySerializer(StrictModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_staff=True, is_active=True), allow_null=True, required=False,
        help_text="A staff member's id",
    )  # fmt: skip
    tags = TagNamesField(required=False, help_text="Tag names; a list replaces the company's tags")

    class Meta:
        model = Company
        fields = (
            "id", "external_id", "name", "domain", "industry", "size_band", "address_line1", "address_line2", "city",
            "region", "postal_code", "country", "phone", "owner", "notes", "tags", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = ("id", "created_at", "updated_at")
        extra_kwargs = {"name": {"required": False}}


class CompanyFilter(SyncFilter):
    tag = filters.CharFilter(method="filter_tag", help_text="Tag name (any case)")
    owner = filters.NumberFilter(field_name="owner_id", help_text="Staff member id")
    external_id = filters.CharFilter(field_name="external_id")
    domain = filters.CharFilter(method="filter_domain")
    search = filters.CharFilter(method="filter_search", help_text="As the admin search: name or domain")

    class Meta:
        model = Company
        fields: list[str] = []

    def filter_tag(self, queryset: QuerySet[Company], name: str, value: str) -> QuerySet[Company]:
        return tagged(queryset, value)

    def filter_domain(self, queryset: QuerySet[Company], name: str, value: str) -> QuerySet[Company]:
        return queryset.filter(domain=value.strip().lower())

    def filter_search(self, queryset: QuerySet[Company], name: str, value: str) -> QuerySet[Company]:
        return search_companies(queryset, value)


class CompanyViewSet(SyncResourceViewSet):
    scope_resource = "companies"
    scope_model = Company
    serializer_class = CompanySerializer
    filterset_class = CompanyFilter
    create_service = staticmethod(company_create)
    update_service = staticmethod(company_update)
    upsert_service = staticmethod(company_upsert)

    def get_queryset(self) -> QuerySet[Company]:
        return Company.objects.prefetch_related("tags")


document_resource(CompanyViewSet, "company", "companies")
