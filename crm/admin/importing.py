"""Import (upload → preview → confirm) and export (changelist actions) in the admin.

The views are thin: ``crm.importing.file_import`` does the checking and the writing, ``records_export`` the
files. Importing needs ``crm.import_contact`` / ``crm.import_company`` (Managers and Administrators); anyone
else gets 403 and sees no button. Exporting needs the view permission of the list, like the list itself.

Flow: the upload is stored under a random token (``crm.importing.uploads``) recorded in the uploader's session,
checked in full as a dry run, and shown as a preview (counts, the first rows' planned changes, every error
by row and column). "Confirm import" checks the stored file again and writes it in one transaction, so
what lands is what the data looks like at that moment. Large files (tens of thousands of rows) take a
while in a request; the ``import_contacts`` command is the tool for those.
"""

from __future__ import annotations

import csv
import io
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, StreamingHttpResponse
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from crm.importing import COMPANY_COLUMNS, CONTACT_COLUMNS, ImportReport, file_import
from crm.importing.export import records_export
from crm.importing.uploads import upload_delete, upload_read, upload_store

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
# Errors listed on the preview page; all of them are in the downloadable error report.
ERRORS_SHOWN = 1_000
SESSION_KEY = "crm_imports"
ENCODINGS = [
    ("utf-8", "UTF-8 (also with BOM; Excel's “CSV UTF-8”)"),
    ("cp1252", "Windows-1252 (Excel “CSV” on Windows, Western Europe)"),
    ("latin-1", "ISO-8859-1 (Latin-1)"),
    ("utf-16", "UTF-16 (Excel “Unicode text”)"),
]


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV or XLSX file", help_text="The first row names the columns (see below).")
    encoding = forms.ChoiceField(
        choices=ENCODINGS, initial="utf-8", help_text="Only for CSV files: how the text in the file is encoded."
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; use the command.")
        return upload


class ImportAdminMixin:
    """Adds the "Import …" button and pages to a changelist (contacts or companies)."""

    import_kind: ClassVar[str] = "contacts"
    import_permission: ClassVar[str] = "crm.import_contact"
    change_list_template: ClassVar[Any] = "admin/crm/change_list_import.html"  # extends the model's own

    admin_site: admin.AdminSite
    model: Any

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self.import_permission)

    def get_urls(self) -> list[URLPattern]:
        info = self.model._meta.app_label, self.model._meta.model_name
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="{}_{}_import".format(*info)),
            path(
                "import/confirm/",
                wrap(require_POST(self.import_confirm_view)),
                name="{}_{}_import_confirm".format(*info),
            ),
            path("import/errors/", wrap(self.import_errors_view), name="{}_{}_import_errors".format(*info)),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        opts = self.model._meta
        # The template the list would use without this mixin (its buttons stay), which ours extends.
        base = select_template(
            [
                f"admin/{opts.app_label}/{opts.model_name}/change_list.html",
                f"admin/{opts.app_label}/change_list.html",
                "admin/change_list.html",
            ]
        )
        context = {
            "has_import_permission": self.has_import_permission(request),
            "import_url": self._url("import"),
            "import_base_template": base.template.name,  # type: ignore[attr-defined]
        }
        return super().changelist_view(request, {**context, **(extra_context or {})})  # type: ignore[misc, no-any-return]

    # --- Views ----------------------------------------------------------------------------------------------
    def import_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        if request.method != "POST":
            return self._render(request, ImportForm())
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._render(request, form)
        upload = form.cleaned_data["file"]
        data = upload.read()
        token = upload_store(data)
        entry = {"kind": self.import_kind, "name": upload.name, "encoding": form.cleaned_data["encoding"]}
        stored = dict(request.session.get(SESSION_KEY, {}))
        stored[token] = entry
        request.session[SESSION_KEY] = dict(list(stored.items())[-5:])  # the latest few uploads
        report = file_import(
            kind=self.import_kind, name=upload.name, data=data, encoding=entry["encoding"], dry_run=True
        )
        return self._render(request, ImportForm(), report=report, token=token)

    def import_confirm_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        token = request.POST.get("token", "")
        entry, data = self._upload(request, token)
        if entry is None or data is None:
            messages.error(request, "That upload has expired or is not yours; upload the file again.")
            return HttpResponseRedirect(self._url("import"))
        report = file_import(
            kind=self.import_kind,
            name=entry["name"],
            data=data,
            encoding=entry["encoding"],
            actor=request.user,  # type: ignore[arg-type]
        )
        if not report.ok:
            return self._render(request, ImportForm(), report=report, token=token)
        upload_delete(token)
        request.session[SESSION_KEY] = {k: v for k, v in request.session.get(SESSION_KEY, {}).items() if k != token}
        messages.success(request, f"Imported {entry['name']}: {report.summary()}")
        return HttpResponseRedirect(self._url("changelist"))

    def import_errors_view(self, request: HttpRequest) -> HttpResponse:
        """Every error of a stored upload as CSV (row, column, problem), for files with very many."""
        self._check(request)
        entry, data = self._upload(request, request.GET.get("token", ""))
        if entry is None or data is None:
            raise PermissionDenied
        report = file_import(
            kind=self.import_kind, name=entry["name"], data=data, encoding=entry["encoding"], dry_run=True
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["row", "column", "problem"])
        writer.writerows([e.row or "", e.field, e.message] for e in report.errors)
        response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(True, f"errors-{entry['name']}.csv") or ""
        return response

    # --- Helpers --------------------------------------------------------------------------------------------
    def _check(self, request: HttpRequest) -> None:
        if not self.has_import_permission(request):
            raise PermissionDenied

    def _url(self, name: str) -> str:
        return reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_{name}")

    def _upload(self, request: HttpRequest, token: str) -> tuple[dict[str, str] | None, bytes | None]:
        entry = request.session.get(SESSION_KEY, {}).get(token)
        if not entry or entry.get("kind") != self.import_kind:
            return None, None
        return entry, upload_read(token)

    def _render(
        self, request: HttpRequest, form: ImportForm, *, report: ImportReport | None = None, token: str = ""
    ) -> TemplateResponse:
        opts = self.model._meta
        errors = report.errors if report else []
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import {opts.verbose_name_plural}",
            "opts": opts,
            "form": form,
            "report": report,
            "token": token,
            "errors_shown": errors[:ERRORS_SHOWN],
            "errors_hidden": max(0, len(errors) - ERRORS_SHOWN),
            "columns": CONTACT_COLUMNS if self.import_kind == "contacts" else COMPANY_COLUMNS,
            "attributes": self.import_kind == "contacts",
            "import_url": self._url("import"),
            "confirm_url": self._url("import_confirm"),
            "errors_url": f"{self._url('import_errors')}?token={token}",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/crm/import.html", context)


class CompanyImportAdminMixin(ImportAdminMixin):
    import_kind = "companies"
    import_permission = "crm.import_company"


# --- Export actions: add to any changelist of contacts, companies, interactions or orders -------------------
def _export(queryset: QuerySet[Any], fmt: str) -> HttpResponseBase:
    file = records_export(queryset, fmt)
    response: HttpResponseBase
    if isinstance(file.content, bytes):
        response = HttpResponse(file.content, content_type=file.content_type)
    else:
        response = StreamingHttpResponse(file.content, content_type=file.content_type)
    response["Content-Disposition"] = content_disposition_header(True, file.filename) or ""
    return response


@admin.action(description="Export selected to CSV", permissions=["view"])
def export_csv(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponseBase:
    return _export(queryset, "csv")


@admin.action(description="Export selected to XLSX", permissions=["view"])
def export_xlsx(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponseBase:
    return _export(queryset, "xlsx")
