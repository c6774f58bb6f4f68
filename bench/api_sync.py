"""Partner API sync at scale: a full export of every contact through the cursor API, and bulk upsert.

    # export: read-only on a seeded database (bench/seed_contacts.py)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_bench .venv/bin/python bench/api_sync.py export
    ... export --max-records 200000 --page-size 1000

    # upsert: writes, so a database of its own (migrated here; --reset empties the CRM tables first)
    createdb -h 127.0.0.1 -U postgres scrm_upsert_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_upsert_bench .venv/bin/python bench/api_sync.py upsert
    ... upsert --records 20000

Requests go through Django's test client in this process: the figures include everything the server does for a
request (middleware, authentication, rate limiting, queries, serialization, JSON rendering) and the client's JSON
parsing, but no network. Targets (issue 6): export >= 10,000 records/s with the last pages no slower than 1.5 x
the first; bulk upsert >= 2,000 records/s.

export: every request runs in one transaction that is rolled back at the end, so the database is left exactly as
it was (the API key and its last-used time are written inside it; the rate-limit counters are kept in process
memory for this run). Pages are requested
with ``limit=--page-size`` following ``next_cursor`` until ``has_more`` is false. Baseline, same run: the same
rows read in the same keyset pages through the ORM (``.values()`` of the contact columns), i.e. what the database
and the ORM cost without the API.

upsert: ``--records`` new contacts (an e-mail address, a phone number, a tag and a custom attribute each) sent in
batches of 500 to ``POST /api/v1/contacts/bulk/`` (all created), then the same records changed (all updated).
Baseline, same run: ``bulk_create`` of the same contacts, e-mail addresses and phone numbers (no validation, no
audit), rolled back afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("API_RATE_LIMIT", "1000000/minute")  # the bench measures the API, not the rate limit
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from crm.models import Contact, ContactEmail, ContactPhone, User  # noqa: E402
from crm.services.api_keys import api_key_create  # noqa: E402

BATCH = 500
EXPORT_TARGET = 10_000.0
UPSERT_TARGET = 2_000.0
LAST_PAGE_RATIO = 1.5
EDGE_PAGES = 10  # first and last pages compared (medians: one page alone is noisy)


def client_for(scopes: list[str], username: str) -> Client:
    user, _ = User.objects.get_or_create(username=username, defaults={"is_active": True})
    _key, secret = api_key_create(name="bench", user=user, scopes=scopes, expires_at=None, created_by=None)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


# --- Export ----------------------------------------------------------------------------------------------
CONTACT_COLUMNS = [f.attname for f in Contact._meta.concrete_fields]


def baseline_export(page_size: int, max_records: int) -> tuple[int, float]:
    """The same keyset pages through the ORM: (rows, seconds)."""
    started, rows, after = time.perf_counter(), 0, None
    while rows < max_records:
        query = Contact.objects.order_by("updated_at", "id")
        if after is not None:
            query = query.filter(Q(updated_at__gte=after[0]) & (Q(updated_at__gt=after[0]) | Q(id__gt=after[1])))
        page = list(query.values(*CONTACT_COLUMNS)[:page_size])
        if not page:
            break
        rows += len(page)
        after = (page[-1]["updated_at"], page[-1]["id"])
    return rows, time.perf_counter() - started


def api_export(client: Client, page_size: int, max_records: int) -> tuple[int, float, list[float]]:
    """Every contact through the cursor API: (records, seconds, per-page seconds)."""
    started, records, cursor, pages = time.perf_counter(), 0, None, []
    seen_last: int | None = None
    while records < max_records:
        url = f"/api/v1/contacts/?limit={page_size}" + (f"&cursor={cursor}" if cursor else "")
        page_started = time.perf_counter()
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code} {response.content[:300]!r}")
        body = json.loads(response.content)
        pages.append(time.perf_counter() - page_started)
        records += len(body["results"])
        if body["results"]:
            seen_last = body["results"][-1]["id"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
        if len(pages) % 100 == 0:
            print(f"  ... {records:,} records, {records / (time.perf_counter() - started):,.0f}/s", flush=True)
    assert seen_last is not None or records == 0  # noqa: S101 - a sanity check of the bench itself
    return records, time.perf_counter() - started, pages


def export(args: argparse.Namespace) -> int:
    total = Contact.objects.count()
    if not total:
        print("No contacts: seed the database first (bench/seed_contacts.py).")
        return 1
    wanted = min(total, args.max_records or total)
    print(f"Exporting {wanted:,} of {total:,} contacts, {args.page_size} per page (test client, in process)")
    # Rate-limit counters in process memory: in the rolled-back transaction, the database cache's one row per
    # key would gain a dead version per request, and reading it would slow down page after page.
    local_cache = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(CACHES=local_cache), transaction.atomic():
        client = client_for(["contacts:read"], f"bench-export-{uuid.uuid4().hex[:8]}")
        base_rows, base_seconds = baseline_export(args.page_size, wanted)
        print(f"baseline (ORM .values(), same pages): {base_rows:,} rows in {base_seconds:.1f} s")
        records, seconds, pages = api_export(client, args.page_size, wanted)
        transaction.set_rollback(True)  # read-only: the key and its traces go away
    rate, base_rate = records / seconds, base_rows / base_seconds
    first = statistics.median(pages[:EDGE_PAGES]) * 1000
    last = statistics.median(pages[-EDGE_PAGES:]) * 1000
    print()
    print(f"API export:  {records:,} records in {seconds:.1f} s = {rate:,.0f} records/s (target {EXPORT_TARGET:,.0f})")
    print(f"baseline:    {base_rate:,.0f} rows/s; the API costs {base_rate / rate:.1f} x the bare ORM read")
    print(
        f"pages:       {len(pages):,}; first page {pages[0] * 1000:.0f} ms, last page {pages[-1] * 1000:.0f} ms; "
        f"median of the first {EDGE_PAGES} {first:.0f} ms, of the last {EDGE_PAGES} {last:.0f} ms "
        f"(ratio {last / first:.2f}, target <= {LAST_PAGE_RATIO})"
    )
    print(f"median page  {statistics.median(pages) * 1000:.0f} ms, slowest {max(pages) * 1000:.0f} ms")
    ok = rate >= EXPORT_TARGET and last <= LAST_PAGE_RATIO * first
    print("PASS" if ok else "FAIL")
    return 0


# --- Upsert ----------------------------------------------------------------------------------------------
def record(run: str, index: int, *, changed: bool) -> dict[str, Any]:
    return {
        "external_id": f"bench-{run}-{index}",
        "first_name": f"First{index}",
        "last_name": f"Last{index}",
        "job_title": "Buyer (changed)" if changed else "Buyer",
        "stage": "customer" if changed else "lead",
        "emails": [{"email": f"contact{index}.{run}@bench.example", "label": "work"}],
        "phones": [{"number": f"+49 30 {20000000 + index:08d}", "label": "work"}],
        "tags": ["bench"],
        "attributes": {},
    }


def upsert_pass(client: Client, run: str, count: int, *, changed: bool) -> tuple[float, dict[str, int]]:
    started, totals = time.perf_counter(), {"created": 0, "updated": 0, "failed": 0}
    for start in range(0, count, BATCH):
        batch = [record(run, i, changed=changed) for i in range(start, min(start + BATCH, count))]
        response = client.post("/api/v1/contacts/bulk/", {"records": batch}, content_type="application/json")
        if response.status_code != 200:
            raise SystemExit(f"bulk: {response.status_code} {response.content[:300]!r}")
        body = response.json()
        for name in totals:
            totals[name] += body[name]
        if body["failed"]:
            errors = [r for r in body["results"] if r["status"] == "error"][:3]
            raise SystemExit(f"bulk: {body['failed']} records failed, e.g. {errors}")
    return time.perf_counter() - started, totals


def baseline_upsert(run: str, count: int) -> float:
    started = time.perf_counter()
    with transaction.atomic():
        contacts = Contact.objects.bulk_create(
            [
                Contact(external_id=f"base-{run}-{i}", first_name=f"First{i}", last_name=f"Last{i}")
                for i in range(count)
            ],
            batch_size=BATCH,
        )
        ContactEmail.objects.bulk_create(
            [ContactEmail(contact=c, email=f"base{i}.{run}@bench.example", is_primary=True) for i, c in
             enumerate(contacts)],
            batch_size=BATCH,
        )  # fmt: skip
        ContactPhone.objects.bulk_create(
            [ContactPhone(contact=c, number=f"+4930{30000000 + i:08d}", is_primary=True) for i, c in
             enumerate(contacts)],
            batch_size=BATCH,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def upsert(args: argparse.Namespace) -> int:
    if connection.vendor != "postgresql":
        print("Use PostgreSQL (DATABASE_URL=postgres://…), a database of its own.")
        return 1
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    if args.reset:
        Contact.all_objects.filter(external_id__startswith="bench-").delete()
    with connection.cursor() as cursor:
        # Fresh planner statistics: a server without autovacuum would otherwise plan the pass's look-ups by
        # child rows (contact_id = ANY(…)) as scans once earlier runs have grown the tables.
        cursor.execute("ANALYZE")
    client = client_for(["contacts:write"], "bench-upsert")
    run = uuid.uuid4().hex[:6]
    print(f"Bulk upsert of {args.records:,} contacts in batches of {BATCH} (test client, in process), run {run}")
    base_seconds = baseline_upsert(run, args.records)
    created_seconds, created = upsert_pass(client, run, args.records, changed=False)
    updated_seconds, updated = upsert_pass(client, run, args.records, changed=True)
    base_rate = args.records / base_seconds
    print()
    print(f"baseline bulk_create:  {base_rate:,.0f} records/s (contacts + e-mail + phone rows, no checks)")
    for name, seconds, totals in (("create", created_seconds, created), ("update", updated_seconds, updated)):
        rate = args.records / seconds
        print(
            f"bulk upsert, {name}:   {rate:,.0f} records/s ({seconds:.1f} s; {totals}); "
            f"{base_rate / rate:.1f} x baseline (target {UPSERT_TARGET:,.0f}/s)"
        )
    worst = args.records / max(created_seconds, updated_seconds)
    print("PASS" if worst >= UPSERT_TARGET else "FAIL")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ex = commands.add_parser("export", help="full export through the cursor API (read-only)")
    ex.add_argument("--page-size", type=int, default=1000, help="records per page (default 1000, the API's maximum)")
    ex.add_argument("--max-records", type=int, default=0, help="stop after this many (default: every contact)")
    up = commands.add_parser("upsert", help="bulk upsert through POST /api/v1/contacts/bulk/ (writes)")
    up.add_argument("--records", type=int, default=20_000, help="contacts to create then update (default 20,000)")
    up.add_argument("--reset", action="store_true", help="delete contacts of earlier runs (external id bench-…)")
    args = parser.parse_args(argv)
    return export(args) if args.command == "export" else upsert(args)


if __name__ == "__main__":
    raise SystemExit(main())
