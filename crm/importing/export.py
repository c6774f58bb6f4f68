"""Export records to CSV or XLSX.

Contacts and companies are written with the import's columns (plus ``id`` for reference, which imports
ignore), so an exported file imports back as "unchanged". Interactions and orders get columns of their own.

- Queries: related rows are joined or prefetched once per chunk of 2,000 records (``iterator(chunk_size)``),
  never per record, and the caller's ordering is kept.
- CSV streams: its bytes are produced chunk by chunk while the response is sent, for any selection size.
  It starts with a byte-order mark so Excel opens it as UTF-8 (the importer drops the mark).
- XLSX is built with openpyxl's write-only mode (rows go to a temporary file, not a tree in memory) and
  returned as bytes. Every cell is written as text, so a value such as ``=HYPERLINK(…)`` stays text.
- Spreadsheet formula injection in CSV: a cell starting with ``=``, ``@``, or with ``+``/``-`` followed by
  anything but a number, is prefixed with an apostrophe (Excel's "this is text" mark); the CSV reader removes
  that apostrophe again, so the round trip still holds. Phone numbers (``+4930…``) are left alone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from django.db.models import Model, Prefetch, QuerySet
from django.utils import timezone

from crm.importing.companies import COMPANY_COLUMNS
from crm.importing.contacts import CONTACT_COLUMNS
from crm.models import AttributeDefinition, Company, Contact, ContactEmail, ContactPhone, Interaction, Order, Tag

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")
CHUNK = 2_000
_NUMBERISH = re.compile(r"^[+-][\d\s().-]*$")


class ExportFile(NamedTuple):
    content: bytes | Iterator[bytes]  # bytes for XLSX, a stream of chunks for CSV
    content_type: str
    filename: str


def contacts_export(queryset: QuerySet[Contact], fmt: str) -> ExportFile:
    """Contacts of ``queryset`` (a changelist selection, a segment's members) as a CSV or XLSX file."""
    keys = list(AttributeDefinition.objects.order_by("position", "key").values_list("key", flat=True))
    header = ["id", *CONTACT_COLUMNS, *(f"attr:{k}" for k in keys)]
    records = _chunked(
        queryset.select_related("company", "owner")
        .prefetch_related(None)
        .prefetch_related(
            Prefetch("emails", queryset=ContactEmail.objects.order_by("-is_primary", "id")),
            Prefetch("phones", queryset=ContactPhone.objects.order_by("-is_primary", "id")),
            Prefetch("tags", queryset=Tag.objects.order_by("name")),
        )
    )

    def row(c: Contact) -> list[Any]:
        emails = [e.email for e in c.emails.all()]
        phones = [p.number for p in c.phones.all()]
        company = c.company
        attributes = c.attributes or {}
        values: dict[str, Any] = {
            "external_id": c.external_id,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "email": emails[0] if emails else "",
            "email_2": emails[1] if len(emails) > 1 else "",
            "phone": phones[0] if phones else "",
            "phone_2": phones[1] if len(phones) > 1 else "",
            "company": company.name if company else "",
            "company_external_id": company.external_id if company else "",
            "job_title": c.job_title,
            "stage": c.stage,
            "tags": ", ".join(t.name for t in c.tags.all()),
            "source": c.source,
            "preferred_language": c.preferred_language,
            "owner": c.owner.username if c.owner else "",
        }
        return [c.pk, *(values[col] for col in CONTACT_COLUMNS), *(attributes.get(k) for k in keys)]

    return _file("contacts", fmt, header, (row(c) for c in records))


def companies_export(queryset: QuerySet[Company], fmt: str) -> ExportFile:
    header = ["id", *COMPANY_COLUMNS]
    records = _chunked(
        queryset.select_related("owner")
        .prefetch_related(None)
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
    )

    def row(c: Company) -> list[Any]:
        special = {"owner": c.owner.username if c.owner else "", "tags": ", ".join(t.name for t in c.tags.all())}
        return [c.pk, *(special[col] if col in special else getattr(c, col) for col in COMPANY_COLUMNS)]

    return _file("companies", fmt, header, (row(c) for c in records))


INTERACTION_COLUMNS = (
    "id", "external_id", "kind", "direction", "subject", "body", "occurred_at", "duration", "outcome", "staff",
    "contact_id", "contact", "contact_external_id", "company", "company_external_id", "due_at", "done", "done_at",
)  # fmt: skip


def interactions_export(queryset: QuerySet[Interaction], fmt: str) -> ExportFile:
    records = _chunked(queryset.select_related("contact", "company", "staff").prefetch_related(None))

    def row(i: Interaction) -> list[Any]:
        return [
            i.pk, i.external_id or "", i.kind, i.direction, i.subject, i.body, i.occurred_at, i.duration, i.outcome,
            i.staff.username if i.staff else "", i.contact_id, str(i.contact) if i.contact else "",
            i.contact.external_id if i.contact else "", i.company.name if i.company else "",
            i.company.external_id if i.company else "", i.due_at, i.done, i.done_at,
        ]  # fmt: skip

    return _file("interactions", fmt, list(INTERACTION_COLUMNS), (row(i) for i in records))


ORDER_COLUMNS = (
    "number", "ordered_at", "status", "currency", "total", "contact_id", "contact", "contact_external_id",
    "company", "company_external_id", "lines",
)  # fmt: skip


def orders_export(queryset: QuerySet[Order], fmt: str) -> ExportFile:
    records = _chunked(
        queryset.select_related("contact", "company").prefetch_related(None).prefetch_related("lines__product")
    )

    def row(o: Order) -> list[Any]:
        lines = "; ".join(f"{ln.quantity} × {ln.product.sku} @ {ln.unit_price}" for ln in o.lines.all())
        return [
            o.number, o.ordered_at, o.status, o.currency, o.total, o.contact_id, str(o.contact) if o.contact else "",
            o.contact.external_id if o.contact else "", o.company.name if o.company else "",
            o.company.external_id if o.company else "", lines,
        ]  # fmt: skip

    return _file("orders", fmt, list(ORDER_COLUMNS), (row(o) for o in records))


EXPORTERS: dict[type[Model], Callable[[Any, str], ExportFile]] = {
    Contact: contacts_export,
    Company: companies_export,
    Interaction: interactions_export,
    Order: orders_export,
}


def records_export(queryset: QuerySet[Any], fmt: str) -> ExportFile:
    """The export of whatever ``queryset`` holds (its model's concrete model picks the columns)."""
    model = queryset.model._meta.concrete_model
    if model not in EXPORTERS:
        raise ValueError(f"{queryset.model.__name__} cannot be exported")
    return EXPORTERS[model](queryset, fmt)


def _chunked(queryset: QuerySet[Any]) -> Iterator[Any]:
    return queryset.iterator(chunk_size=CHUNK)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "tzinfo") and hasattr(value, "hour"):  # aware datetime -> local time, ISO 8601
        return str(timezone.localtime(value).isoformat(timespec="seconds"))
    return str(value)


def _file(kind: str, fmt: str, header: list[str], rows: Iterable[list[Any]]) -> ExportFile:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    if fmt == "csv":
        return ExportFile(_csv_stream(header, rows), CSV_CONTENT_TYPE, f"{kind}-{stamp}.csv")
    return ExportFile(_xlsx_bytes(kind, header, rows), XLSX_CONTENT_TYPE, f"{kind}-{stamp}.xlsx")


def _csv_safe(text: str) -> str:
    if text[:1] in ("=", "@") or (text[:1] in ("+", "-") and not _NUMBERISH.match(text)):
        return "'" + text
    return text


def _csv_stream(header: list[str], rows: Iterable[list[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow([_csv_safe(_text(v)) for v in row])
        if count % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _xlsx_bytes(kind: str, header: list[str], rows: Iterable[list[Any]]) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(kind.capitalize())

    def cells(values: Iterable[Any]) -> list[Any]:
        out = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", _text(value)))
            cell.data_type = "s"  # text, never a formula
            out.append(cell)
        return out

    sheet.append(cells(header))
    for row in rows:
        sheet.append(cells(row))
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
