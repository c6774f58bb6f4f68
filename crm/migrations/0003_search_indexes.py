"""Trigram indexes for name-fragment search on PostgreSQL.

``LIKE '%fragment%'`` cannot use a B-tree; pg_trgm's GIN index answers it at a million contacts in
milliseconds. SQLite (the embedded default) has no such index type and scans instead, which is fine at
demo sizes, so these statements run on PostgreSQL only.
"""

from typing import Any

from django.db import migrations

INDEXES = {
    "crm_contact_search_name_trgm": "crm_contact",
    "crm_company_search_name_trgm": "crm_company",
}


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (search_name gin_trgm_ops)")


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_roles")]

    operations = [migrations.RunPython(create, drop)]
