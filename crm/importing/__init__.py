"""Import contacts and companies from CSV or XLSX, and export records to CSV or XLSX.

One importer serves the admin (upload, preview, confirm) and the commands (``import_contacts``,
``import_companies``): ``file_import`` reads the file, checks every row, and writes all of it in one
transaction or nothing at all. Its report names each problem by row (as a spreadsheet numbers them: the
header is row 1) and column.
"""

from __future__ import annotations

from crm.importing.companies import COMPANY_COLUMNS, companies_import
from crm.importing.contacts import CONTACT_COLUMNS, contacts_import
from crm.importing.readers import ImportFileError, read_table
from crm.importing.report import ImportReport, ProgressFactory, RowError
from crm.models import User

KINDS = ("contacts", "companies")

__all__ = [
    "COMPANY_COLUMNS",
    "CONTACT_COLUMNS",
    "KINDS",
    "ImportReport",
    "RowError",
    "file_import",
]


def file_import(
    *,
    kind: str,
    name: str,
    data: bytes,
    fmt: str | None = None,
    encoding: str = "utf-8",
    actor: User | None = None,
    dry_run: bool = False,
    progress: ProgressFactory | None = None,
) -> ImportReport:
    """Import ``data`` (a file's bytes; ``name`` is shown in reports and picks the format when ``fmt`` is None)
    as ``kind`` ("contacts" or "companies"). Never raises for bad input: problems are in ``report.errors``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    try:
        table = read_table(name=name, data=data, fmt=fmt, encoding=encoding)
    except ImportFileError as exc:
        error = RowError(exc.row, exc.field, exc.message)
        return ImportReport(kind=kind, source=name, dry_run=dry_run, errors=[error], unreadable=True)
    run = contacts_import if kind == "contacts" else companies_import
    return run(table=table, actor=actor, dry_run=dry_run, progress=progress)
