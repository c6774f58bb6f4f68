"""django-q2 entry points for crm: thin shells around services (safe to run twice)."""

from __future__ import annotations

from crm.services.analysis import analysis_recompute


def recompute_analysis() -> dict[str, float]:
    """Nightly (see the "crm: nightly customer analysis" schedule) and on demand from the admin."""
    result = analysis_recompute()
    return {"contacts": result.contacts, "purchasers": result.purchasers, "seconds": result.seconds}
