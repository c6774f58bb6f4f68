"""``manage.py import_contacts FILE [--dry-run] [--format csv|xlsx] [--encoding utf-8] [--user NAME]``.

Columns and rules: ``crm.importing.contacts``. Exit code 1, and the errors (row, column, problem) on stderr,
when any row fails: then nothing is imported.
"""

from __future__ import annotations

from crm.importing.command import ImportCommand


class Command(ImportCommand):
    help = "Import contacts from a CSV or XLSX file: all rows or, if any row has a problem, none."
    kind = "contacts"
