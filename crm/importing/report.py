"""What an import tells its caller: counts, the planned changes of the first rows, and every error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# Rows whose planned change the admin preview and the dry run show.
SAMPLE_ROWS = 20


@dataclass(frozen=True)
class RowError:
    """One problem, named the way the person who edits the file finds it.

    ``row`` counts like a spreadsheet does: the header is row 1, the first data row is row 2 (for a file that
    cannot be read at all it is the line of the problem, or ``None``). ``field`` is the column, "" for the row.
    """

    row: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = "File" if self.row is None else f"Row {self.row}"
        return f"{where}, {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass(frozen=True)
class RowPlan:
    """What one row does: ``create``, ``update`` (with the fields that change) or ``unchanged``."""

    row: int
    action: str
    label: str
    changes: tuple[str, ...] = ()


@dataclass
class ImportReport:
    kind: str  # "contacts" or "companies"
    source: str  # the file's name
    dry_run: bool
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    samples: list[RowPlan] = field(default_factory=list)
    companies_created: list[str] = field(default_factory=list)  # contact imports create companies by name
    tags_created: list[str] = field(default_factory=list)
    applied: bool = False  # True once the rows are written (never for a dry run or a failing file)
    unreadable: bool = False  # the file itself could not be read (format, encoding, malformed CSV)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_rows(self) -> int:
        """Rows with at least one error (a file-level error counts as one)."""
        return len({e.row for e in self.errors})

    def summary(self) -> str:
        if self.unreadable:
            return "The file cannot be read; nothing was imported."
        if self.errors:
            return (
                f"{plural(len(self.errors), 'error', 'errors')} in {plural(self.error_rows, 'row', 'rows')} "
                f"of {self.total_rows}; "
                "nothing was imported. Fix the file and upload it again."
            )
        noun = (
            {"contacts": "contact", "companies": "company"}.get(self.kind, self.kind)
            if self.created == 1
            else self.kind
        )
        verb = "would be" if not self.applied else "was" if self.created == 1 else "were"
        text = (
            f"{plural(self.total_rows, 'row', 'rows')}: {self.created} {noun} {verb} created, "
            f"{self.updated} updated, {self.unchanged} unchanged"
        )
        extras = []
        if self.companies_created:
            extras.append(plural(len(self.companies_created), "new company", "new companies"))
        if self.tags_created:
            extras.append(plural(len(self.tags_created), "new tag", "new tags"))
        return text + (f" ({', '.join(extras)})" if extras else "") + "."


def plural(count: int, singular: str, many: str) -> str:
    return f"{count} {singular if count == 1 else many}"


class ProgressBar(Protocol):
    """The part of ``tqdm`` the importers use; the admin passes nothing (no bar)."""

    def update(self, n: float | None = 1) -> bool | None: ...

    def close(self) -> None: ...


# Called with a phase name ("Checking rows", "Writing") and the number of rows in it.
ProgressFactory = Callable[[str, int], ProgressBar]


class _NoProgress:
    def update(self, n: float | None = 1) -> None:
        return None

    def close(self) -> None:
        return None


def progress_bar(factory: ProgressFactory | None, phase: str, total: int) -> ProgressBar:
    return factory(phase, total) if factory is not None else _NoProgress()
