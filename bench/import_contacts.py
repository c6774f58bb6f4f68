"""Time the contact import (``manage.py import_contacts``) on a 100,000-row CSV against PostgreSQL.

    createdb -h 127.0.0.1 -U postgres scrm_import_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_import_bench .venv/bin/python bench/import_contacts.py
    ... --rows 20000      # another size
    ... --reset           # empty the contact and company tables first (TRUNCATE … CASCADE)

Steps:
  1. Refuse SQLite; apply migrations; refuse a database that already has contacts unless --reset.
  2. Write a CSV in a temporary folder: external_id, names, e-mail, phone (E.164 and national formats),
     job title, stage, company by name (1,000 companies, created by the first run), tags (from 20).
  3. Baseline: the least any import has to do, ``csv.DictReader`` plus ``Contact.objects.bulk_create`` of
     the same names (in a transaction that is rolled back).
  4. Run 1, create: the importer the command runs (``crm.importing.file_import``) on the empty database.
  5. Run 2, unchanged: the same file again (every row matched by external id, nothing written).
  6. Run 3, update: every row with a new job title and one more tag (every contact updated).
Each run prints its time per phase (read, check, write) and rows/s; the create run's ratio to the baseline
says what checking, matching, e-mail/phone/tag rows and the audit trail cost on top of inserting names.
Target (the issue): 100,000 rows "in minutes"; the script prints PASS when every run takes under 180 s.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

import phonenumbers  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from psycopg import sql  # noqa: E402

from crm.importing import file_import  # noqa: E402
from crm.importing.report import ImportReport, ProgressBar  # noqa: E402
from crm.models import Company, Contact, Tag  # noqa: E402

TARGET_SECONDS = 180
FIRST = [
    "Ada",
    "Ben",
    "Clara",
    "David",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Lars",
    "Maja",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Sven",
    "Tara",
    "Yusuf",
]
LAST = [
    "Adler",
    "Bauer",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hahn",
    "Ivanov",
    "Jensen",
    "Kaya",
    "Lopez",
    "Meyer",
    "Novak",
    "Olsen",
    "Patel",
]
TAGS = [f"tag-{i:02d}" for i in range(20)]
STAGES = ["lead", "prospect", "customer", "churned"]
RESET_TABLES = [Contact, Company, Tag]


def write_csv(path: Path, rows: int, *, seed: int, changed: bool = False) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["external_id", "first_name", "last_name", "email", "phone", "job_title", "stage", "company", "tags"]
        )
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            # Half in E.164, half as staff type them (national format with spaces), all valid German mobiles.
            phone = f"+49151{i:08d}" if i % 2 else f"0151 {i // 10_000:04d} {i % 10_000:04d}"
            tags = rng.sample(TAGS, 2) + (["imported-again"] if changed else [])
            writer.writerow(
                [
                    f"B-{i}",
                    first,
                    last,
                    f"{first}.{last}.{i}@example.com".lower(),
                    phone,
                    "Head of purchasing" if changed else "Buyer",
                    rng.choice(STAGES),
                    f"Company {i % 1_000:04d}",
                    ", ".join(tags),
                ]
            )


class PhaseClock:
    """A progress factory that records when each phase starts (the importer names them)."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []

    def __call__(self, phase: str, total: int) -> ProgressBar:
        self.marks.append((phase, time.perf_counter()))
        return self

    def update(self, n: float | None = 1) -> None:
        return None

    def close(self) -> None:
        return None


def timed_import(label: str, path: Path, rows: int) -> tuple[float, ImportReport]:
    clock = PhaseClock()
    started = time.perf_counter()
    data = path.read_bytes()
    # The command runs exactly this (plus printing); called directly to read the report's counts.
    report = file_import(kind="contacts", name=path.name, data=data, progress=clock)
    total = time.perf_counter() - started
    if report.errors:
        raise SystemExit(f"{label}: the import failed: {[str(e) for e in report.errors[:5]]}")
    marks = [("read", started), *clock.marks, ("end", started + total)]
    phases = ", ".join(f"{name} {end - begin:.1f}s" for (name, begin), (_, end) in itertools.pairwise(marks))
    print(
        f"{label}: {rows:,} rows in {total:.1f} s = {rows / total:,.0f} rows/s "
        f"(created {report.created:,}, updated {report.updated:,}, unchanged {report.unchanged:,}; {phases})"
    )
    return total, report


def baseline(path: Path) -> float:
    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as handle:
        contacts = [
            Contact(
                first_name=r["first_name"], last_name=r["last_name"], search_name=f"{r['first_name']} {r['last_name']}"
            )
            for r in csv.DictReader(handle)
        ]
    with transaction.atomic():
        Contact.objects.bulk_create(contacts, batch_size=1_000)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the file (default 100,000)")
    parser.add_argument("--reset", action="store_true", help="empty the contact, company and tag tables first")
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args(argv)
    if connection.vendor != "postgresql":
        print(
            f"Refusing to run on {connection.vendor}: the target is PostgreSQL. Set DATABASE_URL, e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_import_bench "
            "(createdb -h 127.0.0.1 -U postgres scrm_import_bench).",
            file=sys.stderr,
        )
        return 2
    for i in (0, 1, args.rows - 1, args.rows - 2):
        phone = f"+49151{i:08d}" if i % 2 else f"0151 {i // 10_000:04d} {i % 10_000:04d}"
        if not phonenumbers.is_valid_number(phonenumbers.parse(phone, "DE")):
            raise SystemExit(f"The generator made an invalid phone number {phone}; fix write_csv()")
    database = connection.settings_dict["NAME"]
    print(f"Database {database!r}: applying migrations …")
    call_command("migrate", interactive=False, verbosity=0)
    existing = Contact.all_objects.count()
    if existing and not args.reset:
        print(f"Refusing to run: {database!r} has {existing:,} contacts; pass --reset to empty it.", file=sys.stderr)
        return 2
    if args.reset:
        tables = sql.SQL(", ").join(sql.Identifier(m._meta.db_table) for m in RESET_TABLES)
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))
    # National numbers in the file are German: read them as the importer would for a German team.
    from django.conf import settings

    settings.PHONE_DEFAULT_REGION = "DE"

    with tempfile.TemporaryDirectory() as folder:
        first, changed = Path(folder) / "contacts.csv", Path(folder) / "contacts-changed.csv"
        write_csv(first, args.rows, seed=args.seed)
        write_csv(changed, args.rows, seed=args.seed, changed=True)
        print(f"Wrote {args.rows:,} rows ({first.stat().st_size / 1e6:.1f} MB) to {first}")
        base = baseline(first)
        print(f"Baseline (DictReader + bulk_create of the names): {base:.1f} s = {args.rows / base:,.0f} rows/s")
        create, report = timed_import("Run 1, create", first, args.rows)
        assert report.created == args.rows, report.summary()  # noqa: S101
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        unchanged, report = timed_import("Run 2, unchanged", first, args.rows)
        assert report.unchanged == args.rows, report.summary()  # noqa: S101
        update, report = timed_import("Run 3, update", changed, args.rows)
        assert report.updated == args.rows, report.summary()  # noqa: S101
    print(f"Create run / baseline: {create / base:.1f}×")
    slowest = max(create, unchanged, update)
    verdict = "PASS" if slowest < TARGET_SECONDS else "FAIL"
    print(f"{verdict}: slowest run {slowest:.1f} s (target under {TARGET_SECONDS} s for {args.rows:,} rows)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
