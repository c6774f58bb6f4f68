"""Time the contact list in the admin (the page staff live in) on a large database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_bench .venv/bin/python bench/contact_changelist.py
    ... --repeats 50 --target-ms 300 --email someone@example.com --fragment schm

Load the database first with ``bench/seed_contacts.py``. Signed in as a superuser (``bench-admin``, created
without a usable password if missing) through Django's test client, so the figures include everything the server
does for a request (middleware, session, queries, template rendering) but no network or browser.

Scenarios: the first page; the stage filter (customers); a search by an exact e-mail address that exists; a
search by a 4-5 letter name fragment that exists. Each is requested a few times to warm up, then ``--repeats``
times; the median and 95th percentile (nearest rank) are printed with one request's query count and slowest SQL.

Baseline, measured in the same run: the tag list (``/admin/crm/tag/``), a changelist over a dozen rows. It costs
what every admin page costs (session, permissions, template rendering) and nothing that grows with the data, so
"x baseline" says how much the million contacts add, and it compares across machines better than milliseconds.

A scenario passes when its 95th percentile is under the target (300 ms by default). The exit code is 0 when
every page answered 200 (pass or fail: the figures are the output); 1 when a page failed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: static files are not collected here

from django.db import connection  # noqa: E402
from django.db.models import Max, Min  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils.html import strip_tags  # noqa: E402

from crm.models import Contact, ContactEmail, User  # noqa: E402

CHANGELIST = "/admin/crm/contact/"
BASELINE = "/admin/crm/tag/"


@dataclass(frozen=True)
class Result:
    name: str
    url: str
    median_ms: float
    p95_ms: float
    found: int  # the list's own count ("1000000 contacts" under the table)
    queries: int
    slowest_sql_ms: float
    slowest_sql: str


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed requests per scenario (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first (default 3)")
    parser.add_argument("--target-ms", type=float, default=300.0, help="pass when p95 is under this (default 300)")
    parser.add_argument("--email", help="exact address to search for (default: one from the middle of the table)")
    parser.add_argument("--fragment", help="name fragment to search for (default: part of a stored last name)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    contacts = Contact.objects.count()
    if not contacts:
        print("No contacts: load some first with bench/seed_contacts.py.", file=sys.stderr)
        return 1
    email, fragment = _search_terms(args.email, args.fragment)
    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']!r}, {contacts:,} contacts")
    print(f"Timing: {args.warmup} warm-up + {args.repeats} timed requests per scenario, Django test client")
    # Other work on the machine shows up in every figure (the baseline's too): say how busy it was.
    print(f"Load average before: {_load_average()}\n")

    client = Client()
    client.force_login(_superuser())
    scenarios = [
        ("baseline: tag list", BASELINE),
        ("first page", CHANGELIST),
        ("stage = customer", f"{CHANGELIST}?{urlencode({'stage__exact': 'customer'})}"),
        ("search: exact e-mail", f"{CHANGELIST}?{urlencode({'q': email})}"),
        ("search: name fragment", f"{CHANGELIST}?{urlencode({'q': fragment})}"),
    ]
    results = []
    for name, url in scenarios:
        result = _measure(client, name, url, warmup=args.warmup, repeats=args.repeats)
        if result is None:
            return 1
        results.append(result)
        _report(result, baseline=results[0])
        if result.found == 0 and url != BASELINE:
            # A fast empty page measures nothing: the search term, or the search, is wrong.
            print(f"{name}: GET {url} found nothing", file=sys.stderr)
            return 1

    print(f"Load average after: {_load_average()}")
    print(f"\nTarget: p95 under {args.target_ms:.0f} ms (baseline = {BASELINE}, {results[0].median_ms:.1f} ms median)")
    for result in results[1:]:
        verdict = "PASS" if result.p95_ms < args.target_ms else "FAIL"
        print(
            f"{verdict}  {result.name:<24} median {result.median_ms:7.1f} ms  p95 {result.p95_ms:7.1f} ms"
            f"  {result.median_ms / results[0].median_ms:5.1f}x baseline"
        )
    return 0


def _load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"
    except (AttributeError, OSError):  # not available on this platform
        return "unknown"


def _search_terms(email: str | None, fragment: str | None) -> tuple[str, str]:
    """An address and a last-name fragment that exist, taken from a contact half-way through the table."""
    bounds = Contact.objects.aggregate(low=Min("id"), high=Max("id"))
    middle = (bounds["low"] + bounds["high"]) // 2
    if email is None:
        address = ContactEmail.objects.filter(contact_id__gte=middle, contact__deleted_at__isnull=True)
        email = address.order_by("contact_id", "id").values_list("email", flat=True).first() or "nobody@example.com"
    if fragment is None:
        names = Contact.objects.filter(id__gte=middle).order_by("id").values_list("last_name", flat=True)[:100]
        last = next((n.lower() for n in names if len(n) >= 7 and n.isalpha()), "schmidt")
        fragment = last[1:6]  # five letters from inside the word: matches it and every other name containing them
    return email, fragment


def _superuser() -> User:
    user, created = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True, "email": "bench-admin@example.com"}
    )
    if created:
        user.set_unusable_password()  # signed in with force_login only
        user.save(update_fields=["password"])
    elif not (user.is_staff and user.is_superuser and user.is_active):
        raise SystemExit("User 'bench-admin' exists but is not an active superuser; fix or delete it.")
    return user


def _measure(client: Client, name: str, url: str, *, warmup: int, repeats: int) -> Result | None:
    for _ in range(max(1, warmup)):
        response = client.get(url)
        if response.status_code != 200:
            print(f"{name}: GET {url} answered {response.status_code}", file=sys.stderr)
            return None
    found = _listed_count(response.content.decode())
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    # Django rounds captured query times to the millisecond: time them here as well, to the microsecond.
    timed: list[tuple[float, str]] = []

    def timer(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timed.append((time.perf_counter() - started, sql))

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
        client.get(url)
    slowest_seconds, slowest_sql = max(timed, default=(0.0, ""))
    timings.sort()
    return Result(
        name=name,
        url=url,
        median_ms=statistics.median(timings),
        found=found,
        p95_ms=timings[max(0, -(-95 * len(timings) // 100) - 1)],  # nearest rank
        queries=len(captured.captured_queries),
        slowest_sql_ms=slowest_seconds * 1000,
        slowest_sql=" ".join(slowest_sql.split()),
    )


def _listed_count(html: str) -> int:
    """The count the admin prints under the list (``<p class="paginator">… 1000000 contacts</p>``)."""
    paginator = html.partition('class="paginator"')[2].partition("</p>")[0]
    counts = re.findall(r"(\d+) \w+\s*$", strip_tags(paginator).strip())
    return int(counts[-1]) if counts else -1


def _report(result: Result, *, baseline: Result) -> None:
    ratio = result.median_ms / baseline.median_ms
    print(f"{result.name}\n  GET {result.url}")
    print(
        f"  median {result.median_ms:.1f} ms, p95 {result.p95_ms:.1f} ms, {ratio:.1f}x baseline; {result.found:,} "
        f"found; {result.queries} queries, slowest {result.slowest_sql_ms:.1f} ms:"
    )
    sql = result.slowest_sql
    print(f"    {sql[:400]}{' …' if len(sql) > 400 else ''}\n")


if __name__ == "__main__":
    sys.exit(main())
