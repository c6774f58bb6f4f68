"""Where a contact's "last interaction" comes from.

``crm`` counts its own interactions; other apps (social messages, for one) add a source in their
``AppConfig.ready`` without ``crm`` importing them. A source is SQL selecting ``(contact_id, at)``.
"""

from __future__ import annotations

ACTIVITY_SOURCES: dict[str, str] = {
    "crm.interaction": "SELECT contact_id, occurred_at AS at FROM crm_interaction WHERE contact_id IS NOT NULL",
}


def register_activity_source(name: str, sql: str) -> None:
    """Add (or replace) a source; ``sql`` must be one plain SELECT (no ORDER BY / LIMIT) of two columns
    named ``contact_id`` and ``at``."""
    ACTIVITY_SOURCES[name] = sql


def activity_union_sql() -> str:
    # No parentheses around the members: SQLite refuses them in a compound SELECT.
    return " UNION ALL ".join(sql for _, sql in sorted(ACTIVITY_SOURCES.items()))
