"""Read an uploaded CSV or XLSX file into rows of text keyed by normalised column names.

Both formats end up the same: a ``Table`` of ``(row number, {column: text})`` where the row number is what a
spreadsheet shows (header = row 1), every value is a stripped string ("" for an empty cell) and column names
are normalised (``"E-mail"`` -> ``"email"``, ``"Job title"`` -> ``"job_title"``, ``"attr: Shoe size"`` ->
``"attr:shoe_size"``). A file that cannot be read as a whole raises ``ImportFileError`` naming the line.

Choices:
- CSV is decoded strictly (UTF-8 by default, a byte-order mark is dropped; UTF-16 with a BOM is recognised).
  A wrong encoding is refused with the line and byte rather than guessed, so "Müller" never turns into
  "MÃ¼ller" in the CRM. The caller may name another encoding (``--encoding cp1252``, or the admin form).
- The CSV delimiter is the most frequent of ``,`` ``;`` and tab in the header line (Excel writes ``;`` in
  many European locales).
- XLSX: the first worksheet, read in openpyxl's read-only mode with cached formula results. Numbers that
  are whole become integers (a phone typed as a number is ``4915112345678``, not ``4.9e12``); dates become
  ``YYYY-MM-DD``. Old ``.xls`` files are refused with a hint.
- A CSV cell starting with an apostrophe before ``= + - @`` loses the apostrophe (the export adds it against
  formula injection, see ``export``).
- Blank rows are skipped but still counted, so row numbers stay those the user sees.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = ("csv", "xlsx")
# Friendly spellings of the canonical column names.
HEADER_ALIASES = {
    "e_mail": "email",
    "email_address": "email",
    "e_mail_2": "email_2",
    "email2": "email_2",
    "phone2": "phone_2",
    "phone_number": "phone",
    "company_name": "company",
    "tag": "tags",
    "language": "preferred_language",
    "title": "job_title",
}
ATTR_PREFIX = "attr:"
_FORMULA_STARTS = ("=", "+", "-", "@")


class ImportFileError(Exception):
    """The file as a whole cannot be read (format, encoding, malformed CSV, header)."""

    def __init__(self, message: str, *, row: int | None = None, field: str = "") -> None:
        super().__init__(message)
        self.message, self.row, self.field = message, row, field


@dataclass(frozen=True)
class Table:
    name: str
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]
    # Errors in individual rows found while reading (e.g. more cells than the header has).
    row_errors: list[tuple[int, str, str]]


def normalize_header(raw: str) -> str:
    text = " ".join(raw.replace("\ufeff", "").split()).lower()
    if text.startswith(ATTR_PREFIX):
        return ATTR_PREFIX + re.sub(r"[\s\-]+", "_", text[len(ATTR_PREFIX) :].strip())
    text = re.sub(r"[\s\-]+", "_", text)
    return HEADER_ALIASES.get(text, text)


def detect_format(name: str, data: bytes) -> str:
    """``csv`` or ``xlsx`` from the file name, or from the content when the name says neither."""
    suffix = Path(name).suffix.lower()
    if suffix == ".xls":
        raise ImportFileError("Old Excel .xls files are not supported: save the sheet as .xlsx or CSV (UTF-8).")
    if suffix == ".xlsx":
        return "xlsx"
    if suffix in {".csv", ".txt", ".tsv"}:
        return "csv"
    return "xlsx" if data[:4] == b"PK\x03\x04" else "csv"


def read_table(*, name: str, data: bytes, fmt: str | None = None, encoding: str = "utf-8") -> Table:
    """Read ``data`` (the file's bytes) as ``fmt`` (detected from ``name`` when not given)."""
    fmt = fmt or detect_format(name, data)
    if fmt not in FORMATS:
        raise ImportFileError(f"Unknown format {fmt!r}: use csv or xlsx.")
    if not data.strip():
        raise ImportFileError("The file is empty.")
    cells = _xlsx_rows(data) if fmt == "xlsx" else _csv_rows(_decode(data, encoding))
    return _table(name, cells)


def _decode(data: bytes, encoding: str) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    elif encoding.lower().replace("_", "-") in {"utf-8", "utf8"}:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except LookupError:
        raise ImportFileError(f"Unknown encoding {encoding!r}; try utf-8, cp1252 or latin-1.") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        shown = "utf-8" if encoding == "utf-8-sig" else encoding
        raise ImportFileError(
            f"The file is not valid {shown}: line {line}, byte {column} (0x{data[exc.start]:02x}) cannot be read. "
            "Save it as “CSV UTF-8”, or choose the file's encoding (e.g. cp1252 for Excel on Windows).",
            row=line,
        ) from None


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(text: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    rows: list[list[str]] = []
    try:
        rows.extend(reader)
    except csv.Error as exc:
        raise ImportFileError(
            f"The CSV file is malformed at line {reader.line_num}: {exc}. Check the quotes on that line.",
            row=reader.line_num,
        ) from None
    # Exports mark cells that a spreadsheet would run as a formula with a leading apostrophe: drop it again.
    return [[c[1:] if c[:1] == "'" and c[1:2] in _FORMULA_STARTS else c for c in row] for row in rows]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _xlsx_rows(data: bytes) -> list[list[str]]:
    import zipfile

    from openpyxl import load_workbook  # type: ignore[import-untyped]

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ImportFileError("The file is not a valid XLSX workbook (it is not a zip archive); save it as .xlsx.")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds of errors on a damaged file
        raise ImportFileError(f"The XLSX workbook cannot be opened ({type(exc).__name__}: {exc}).") from None
    try:
        if not workbook.worksheets:
            raise ImportFileError("The workbook has no worksheet.")
        sheet = workbook.worksheets[0]
        return [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    except ImportFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet fails while it is being read
        raise ImportFileError(f"The XLSX workbook cannot be read ({type(exc).__name__}: {exc}).") from None
    finally:
        workbook.close()


def _table(name: str, cells: list[list[str]]) -> Table:
    header_index = next((i for i, row in enumerate(cells) if any(c.strip() for c in row)), None)
    if header_index is None:
        raise ImportFileError("The file has no header row.")
    header_row = header_index + 1
    columns = [normalize_header(c) for c in cells[header_index]]
    seen: dict[str, int] = {}
    for position, column in enumerate(columns, start=1):
        if column and column in seen:
            raise ImportFileError(
                f"Column “{column}” appears twice (columns {seen[column]} and {position}).",
                row=header_row,
                field=column,
            )
        seen[column] = position
    rows: list[tuple[int, dict[str, str]]] = []
    row_errors: list[tuple[int, str, str]] = []
    width = len(columns)
    for index in range(header_index + 1, len(cells)):
        values = [c.strip() for c in cells[index]]
        if not any(values):
            continue  # a blank row: skipped, still counted
        number = index + 1
        if len(values) > width and any(values[width:]):
            row_errors.append((number, "", f"the row has {len(values)} cells but the header has {width} columns"))
        row = {col: (values[i] if i < len(values) else "") for i, col in enumerate(columns) if col}
        for i, col in enumerate(columns):
            if not col and i < len(values) and values[i]:
                row_errors.append((number, f"column {i + 1}", "a value in a column without a header"))
        rows.append((number, row))
    return Table(name=name, columns=[c for c in columns if c], rows=rows, row_errors=row_errors)
