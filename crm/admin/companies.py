from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest

from crm.admin.base import AuditedAdmin
from crm.admin.filters import CompanyOverdueTaskFilter, StaffOwnerFilter, UsedTagFilter
from crm.admin.forms import TaggedForm
from crm.admin.importing import CompanyImportAdminMixin, export_csv, export_xlsx
from crm.admin.inlines import CompanyContactInline
from crm.admin.merge import MergeAdminMixin
from crm.admin.search import search_companies
from crm.admin.softdelete import DeletedRecordAdmin, SoftDeleteAdminMixin
from crm.models import Company, DeletedCompany, Tag
from crm.services.duplicates import COMPANY_REASONS, company_duplicate_groups, company_duplicate_keys
from crm.services.merge import companies_merge
from crm.services.tags import tags_get_or_create


class CompanyAdminForm(TaggedForm):
    class Meta:
        model = Company
        fields = (
            "name", "domain", "industry", "size_band", "phone", "owner", "notes", "address_line1", "address_line2",
            "postal_code", "city", "region", "country", "external_id",
        )  # fmt: skip


@admin.register(Company)
class CompanyAdmin(CompanyImportAdminMixin, MergeAdminMixin, SoftDeleteAdminMixin, AuditedAdmin):
    form = CompanyAdminForm
    list_display = ("name", "domain", "industry", "size_band", "city", "country", "owner", "tag_list", "updated_at")
    list_filter = (
        "size_band",
        ("owner", StaffOwnerFilter),
        ("tags", UsedTagFilter),
        CompanyOverdueTaskFilter,
    )
    list_select_related = ("owner",)
    search_fields = ("search_name",)
    search_help_text = "Name fragment or exact web domain."
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    show_full_result_count = False
    list_per_page = 50
    inlines = (CompanyContactInline,)
    actions = ("merge_selected", export_csv, export_xlsx)
    merge_permission = "crm.merge_company"
    merge_service = staticmethod(companies_merge)
    duplicate_reasons = COMPANY_REASONS
    duplicate_keys = staticmethod(company_duplicate_keys)
    duplicate_groups = staticmethod(company_duplicate_groups)
    fieldsets = (
        (None, {"fields": ("name", ("domain", "industry", "size_band"), "phone", "owner", "tag_names", "notes")}),
        ("Address", {"fields": ("address_line1", "address_line2", ("postal_code", "city"), ("region", "country"))}),
        ("Partner sync", {"fields": ("external_id", "created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Company]:
        return super().get_queryset(request).prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Company], search_term: str
    ) -> tuple[QuerySet[Company], bool]:
        return search_companies(queryset, search_term), False

    def save_related(self, request: HttpRequest, form: CompanyAdminForm, formsets: object, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        form.instance.tags.set(tags_get_or_create(names=form.cleaned_data["tag_names"]))

    @admin.display(description="Tags")
    def tag_list(self, obj: Company) -> str:
        return ", ".join(t.name for t in obj.tags.all())  # prefetched


@admin.register(DeletedCompany)
class DeletedCompanyAdmin(DeletedRecordAdmin):
    restore_permission = "crm.restore_company"
    list_display = ("name", "domain", "deleted_at", "deleted_by")
    list_select_related = ("deleted_by",)
    search_fields = ("search_name",)
    ordering = ("-deleted_at",)
