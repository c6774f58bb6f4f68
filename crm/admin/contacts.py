"""Contacts: the list staff live in, the record page with its inlines, bulk actions, deleted contacts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest

from crm.admin.analysis import (
    AnalysisColumnsMixin,
    LastInteractionFilter,
    LastPurchaseFilter,
    RfmSegmentFilter,
    SpendFilter,
)
from crm.admin.base import AuditedAdmin
from crm.admin.filters import OverdueTaskFilter, SegmentFilter, StaffOwnerFilter, UsedTagFilter
from crm.admin.forms import ATTR_PREFIX, ContactActionForm, ContactAdminForm, attribute_form_field
from crm.admin.importing import ImportAdminMixin, export_csv, export_xlsx
from crm.admin.inlines import (
    ContactConsentInline,
    ContactEmailInline,
    ContactInteractionInline,
    ContactOrderInline,
    ContactPhoneInline,
)
from crm.admin.merge import MergeAdminMixin
from crm.admin.search import search_contacts
from crm.admin.softdelete import DeletedRecordAdmin, SoftDeleteAdminMixin
from crm.admin.timeline import TimelineAdminMixin
from crm.models import AttributeDefinition, Contact, ContactEmail, ContactPhone, DeletedContact, Interaction, Tag
from crm.services.contacts import contacts_add_tag, contacts_assign_owner, contacts_set_stage
from crm.services.duplicates import CONTACT_REASONS, contact_duplicate_groups, contact_duplicate_keys
from crm.services.merge import contacts_merge
from crm.services.tags import tags_get_or_create


def _definitions(request: HttpRequest) -> list[AttributeDefinition]:
    # Asked for by both get_fieldsets and get_form in one request: read once.
    if not hasattr(request, "_scrm_attribute_definitions"):
        request._scrm_attribute_definitions = list(AttributeDefinition.objects.all())  # type: ignore[attr-defined]
    return request._scrm_attribute_definitions  # type: ignore[attr-defined, no-any-return]


@admin.register(Contact)
class ContactAdmin(
    ImportAdminMixin, TimelineAdminMixin, MergeAdminMixin, AnalysisColumnsMixin, SoftDeleteAdminMixin, AuditedAdmin
):
    form = ContactAdminForm
    change_form_template = "admin/crm/contact/change_form.html"  # with the customer 360
    action_form = ContactActionForm
    list_display = (
        "display_name", "primary_email", "primary_phone", "company", "stage", "owner", "tag_list",
        "rfm_segment", "total_spend", "last_purchase", "last_interaction",
    )  # fmt: skip
    list_display_links = ("display_name",)
    list_filter = (
        "stage",
        ("owner", StaffOwnerFilter),
        ("tags", UsedTagFilter),  # RelatedOnlyFieldListFilter's choices, minus its scan of every contact
        OverdueTaskFilter,
        RfmSegmentFilter,
        SpendFilter,
        LastPurchaseFilter,
        LastInteractionFilter,
        SegmentFilter,
    )
    list_select_related = ("company", "owner", "analysis")
    search_fields = ("search_name",)  # shows the box; the matching is search_contacts
    search_help_text = "Name or company fragment, exact e-mail address, or phone number in any format."
    autocomplete_fields = ("company", "owner")
    readonly_fields = ("created_at", "updated_at")
    show_full_result_count = False  # spares a COUNT(*) of the whole table on every filtered page
    list_per_page = 50
    actions = (
        "assign_owner", "add_tag", "change_stage", "merge_selected", "recompute_analysis", export_csv, export_xlsx,
    )  # fmt: skip
    merge_permission = "crm.merge_contact"
    merge_service = staticmethod(contacts_merge)
    duplicate_reasons = CONTACT_REASONS
    duplicate_keys = staticmethod(contact_duplicate_keys)
    duplicate_groups = staticmethod(contact_duplicate_groups)
    inlines = (
        ContactEmailInline,
        ContactPhoneInline,
        ContactConsentInline,
        ContactInteractionInline,
        ContactOrderInline,
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch("emails", queryset=ContactEmail.objects.order_by("-is_primary", "id")),
                Prefetch("phones", queryset=ContactPhone.objects.order_by("-is_primary", "id")),
                Prefetch("tags", queryset=Tag.objects.order_by("name")),
            )
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Contact], search_term: str
    ) -> tuple[QuerySet[Contact], bool]:
        return search_contacts(queryset, search_term), False

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets: list[Any] = [
            (None, {"fields": (("first_name", "last_name"), ("company", "job_title"))}),
            ("Relationship", {"fields": ("stage", "owner", "tag_names", "source", "preferred_language")}),
        ]
        definitions = _definitions(request)
        if definitions:
            fieldsets.append(("Custom attributes", {"fields": [ATTR_PREFIX + d.key for d in definitions]}))
        fieldsets.append(
            ("Partner sync", {"fields": ("external_id", "created_at", "updated_at"), "classes": ("collapse",)})
        )
        return fieldsets

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        definitions = _definitions(request)
        declared: dict[str, Any] = {ATTR_PREFIX + d.key: attribute_form_field(d) for d in definitions}
        declared["attribute_definitions"] = definitions
        kwargs["form"] = type("ContactAdminForm", (self.form,), declared)
        return super().get_form(request, obj, change, **kwargs)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        form.instance.tags.set(tags_get_or_create(names=form.cleaned_data["tag_names"]))

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is Interaction:
            for obj in formset.save(commit=False):
                obj.staff = obj.staff or request.user
                obj.save()
            formset.save_m2m()
            for obj in formset.deleted_objects:
                obj.delete()
            return
        super().save_formset(request, form, formset, change)

    @admin.display(description="Name", ordering="last_name")
    def display_name(self, obj: Contact) -> str:
        return str(obj)

    @admin.display(description="E-mail")
    def primary_email(self, obj: Contact) -> str:
        emails = list(obj.emails.all())  # prefetched
        return emails[0].email if emails else ""

    @admin.display(description="Phone")
    def primary_phone(self, obj: Contact) -> str:
        phones = list(obj.phones.all())  # prefetched
        return phones[0].number if phones else ""

    @admin.display(description="Tags")
    def tag_list(self, obj: Contact) -> str:
        return ", ".join(t.name for t in obj.tags.all())  # prefetched

    # --- Bulk actions: the inputs beside the action menu feed them; services do the work ----------------
    @admin.action(description="Assign owner (choose the owner beside the menu)", permissions=["change"])
    def assign_owner(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        owner = self._action_value(request, "owner")
        if owner is None:
            self.message_user(request, "Choose an owner in the Owner box next to the action menu.", messages.ERROR)
            return
        changed = contacts_assign_owner(contacts=queryset, owner=owner)
        self.message_user(request, f"{changed} contact(s) now owned by {owner}.", messages.SUCCESS)

    @admin.action(description="Add tag (type it beside the menu)", permissions=["change"])
    def add_tag(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        names = [n for n in (self._action_value(request, "tag") or "").split(",") if n.strip()]
        if len(names) != 1:
            self.message_user(request, "Type one tag in the Tag box next to the action menu.", messages.ERROR)
            return
        (tag,) = tags_get_or_create(names=[" ".join(names[0].split())])
        added = contacts_add_tag(contacts=queryset, tag=tag)
        self.message_user(request, f"Tag “{tag}” added to {added} contact(s).", messages.SUCCESS)

    @admin.action(description="Change stage (choose the stage beside the menu)", permissions=["change"])
    def change_stage(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        stage = self._action_value(request, "stage")
        if not stage:
            self.message_user(request, "Choose a stage in the Stage box next to the action menu.", messages.ERROR)
            return
        changed = contacts_set_stage(contacts=queryset, stage=stage)
        self.message_user(request, f"{changed} contact(s) moved to {Contact.Stage(stage).label}.", messages.SUCCESS)

    def _action_value(self, request: HttpRequest, name: str) -> Any:
        form = self.action_form(request.POST)
        form.fields["action"].choices = self.get_action_choices(request)  # type: ignore[attr-defined]
        if not form.is_valid():
            return None
        return form.cleaned_data.get(name) or None


@admin.register(DeletedContact)
class DeletedContactAdmin(DeletedRecordAdmin):
    restore_permission = "crm.restore_contact"
    list_display = ("__str__", "company", "stage", "deleted_at", "deleted_by")
    list_select_related = ("company", "deleted_by")
    search_fields = ("search_name",)
    ordering = ("-deleted_at",)
