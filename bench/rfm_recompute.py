"""Time the customer analysis (purchase figures + RFM segments) over every contact of a large database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_bench .venv/bin/python bench/rfm_recompute.py

Load the database first with ``bench/seed_contacts.py`` (1,000,000 contacts). The script migrates if needed,
then runs ``analysis_recompute`` twice: the first run inserts one analysis row per contact, the second updates
them all (the nightly case). Each step is timed.

Baseline, measured in the same run: the bare aggregation every recomputation has to do at least once, the
purchases grouped by contact (``SELECT contact_id, COUNT(*), SUM(total), MAX(ordered_at) … GROUP BY``), so the
ratio says what the analysis costs beyond reading the orders. Target (the issue): minutes at a million
contacts; the script prints PASS when a run takes under 300 s.
"""

from __future__ import annotations

import os
import sys
import time
from itertools import pairwise
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from crm.models import ContactAnalysis  # noqa: E402
from crm.services.analysis import PURCHASE_STATUSES, analysis_recompute  # noqa: E402

TARGET_SECONDS = 300


def baseline() -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT contact_id, COUNT(*), SUM(total), MAX(ordered_at) FROM crm_order"
            f" WHERE contact_id IS NOT NULL AND status IN ({', '.join(['%s'] * len(PURCHASE_STATUSES))})"
            " GROUP BY contact_id) t",
            list(PURCHASE_STATUSES),
        )
        cursor.fetchone()
    return time.perf_counter() - started


def timed_run(label: str) -> float:
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    result = analysis_recompute(progress=lambda step: marks.append((step, time.perf_counter())))
    total = time.perf_counter() - started
    marks.append(("end", started + total))
    steps = ", ".join(f"{name} {end - begin:.1f}s" for (name, begin), (_, end) in pairwise(marks))
    print(
        f"{label}: {result.contacts:,} contacts ({result.purchasers:,} purchasers) in {total:.1f} s"
        f" = {result.contacts / total:,.0f} contacts/s  [{steps}]"
    )
    return total


def main() -> int:
    if connection.vendor != "postgresql":
        print("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://…", file=sys.stderr)
        return 2
    call_command("migrate", verbosity=0)
    base = baseline()
    print(f"baseline (group the purchases by contact): {base:.2f} s")
    first = timed_run("first run (insert)")
    second = timed_run("second run (update)")
    distribution = dict(ContactAnalysis.objects.values_list("segment").annotate(n=Count("pk")).order_by("segment"))
    print("segments:", ", ".join(f"{k or 'no purchases'}={v:,}" for k, v in distribution.items()))
    for label, seconds in (("first run", first), ("second run", second)):
        verdict = "PASS" if seconds < TARGET_SECONDS else "FAIL"
        print(f"{verdict} {label}: {seconds:.1f} s (target < {TARGET_SECONDS} s), {seconds / base:.1f}x baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
