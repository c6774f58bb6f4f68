"""``manage.py import_companies FILE [--dry-run] [--format csv|xlsx] [--encoding utf-8] [--user NAME]``.

Columns and rules: ``crm.importing.companies``. Exit code 1 and the errors on stderr when any row fails.
"""

from __future__ import annotations

from crm.importing.command import ImportCommand


class Command(ImportCommand):
    help = "Import companies from a CSV or XLSX file: all rows or, if any row has a problem, none."
    kind = "companies"
