"""What ``import_contacts`` and ``import_companies`` share: arguments, progress bars, and the printed report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.importing import file_import
from crm.importing.readers import FORMATS
from crm.importing.report import ImportReport, ProgressBar, plural
from crm.models import User

ERRORS_PRINTED = 50


class ImportCommand(BaseCommand):
    kind: ClassVar[str] = "contacts"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="A CSV or XLSX file; the first row names the columns")
        parser.add_argument("--dry-run", action="store_true", help="Check everything and report; write nothing")
        parser.add_argument("--format", choices=FORMATS, help="csv or xlsx (default: from the file name)")
        parser.add_argument("--encoding", default="utf-8", help="Of a CSV file (default utf-8; e.g. cp1252)")
        parser.add_argument("--user", help="Username recorded as the actor in the audit trail")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        actor = None
        if options["user"]:
            actor = User.objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user named {options['user']!r}")
        report = file_import(
            kind=self.kind,
            name=path.name,
            data=path.read_bytes(),
            fmt=options["format"],
            encoding=options["encoding"],
            actor=actor,
            dry_run=options["dry_run"],
            progress=self._bar if options["verbosity"] > 0 else None,
        )
        self._print(report)
        if report.errors:
            problem = (
                "cannot be read" if report.unreadable else f"has {plural(report.error_rows, 'row', 'rows')} with errors"
            )
            raise CommandError(f"{path.name} {problem}; nothing was imported.", returncode=1)

    def _bar(self, phase: str, total: int) -> ProgressBar:
        from tqdm import tqdm

        # On a terminal only (disable=None): logs and tests get the report without the redraws.
        bar: ProgressBar = tqdm(total=total, desc=phase, unit=" rows", file=sys.stderr, disable=None, leave=True)
        return bar

    def _print(self, report: ImportReport) -> None:
        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(warning))
        if report.errors:
            self.stderr.write(f"{len(report.errors)} error(s) (row, column: problem):")
            for error in report.errors[:ERRORS_PRINTED]:
                self.stderr.write(f"  {error}")
            if len(report.errors) > ERRORS_PRINTED:
                self.stderr.write(f"  … and {len(report.errors) - ERRORS_PRINTED} more")
            self.stderr.write(report.summary())
            return
        if report.dry_run:
            self.stdout.write("Dry run: nothing was written.")
            for plan in report.samples:
                changes = f" ({', '.join(plan.changes)})" if plan.changes and plan.action == "update" else ""
                self.stdout.write(f"  row {plan.row}: {plan.action} {plan.label}{changes}")
        if report.companies_created:
            self.stdout.write(f"New companies: {_first(report.companies_created)}")
        if report.tags_created:
            self.stdout.write(f"New tags: {_first(report.tags_created)}")
        self.stdout.write(self.style.SUCCESS(report.summary()))


def _first(names: list[str], count: int = 20) -> str:
    more = len(names) - count
    return ", ".join(names[:count]) + (f" … and {more} more" if more > 0 else "")
