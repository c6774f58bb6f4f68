"""django-q2 entry points for crm: thin shells around services (safe to run twice)."""

from __future__ import annotations

from crm.services.analysis import analysis_recompute
from crm.services.tombstones import tombstones_purge


def recompute_analysis() -> dict[str, float]:
    """Nightly (see the "crm: nightly customer analysis" schedule) and on demand from the admin."""
    result = analysis_recompute()
    return {"contacts": result.contacts, "purchasers": result.purchasers, "seconds": result.seconds}


def purge_tombstones() -> int:
    """Daily (see the "crm: purge expired interaction tombstones" schedule): drop expired tombstones."""
    return tombstones_purge()
