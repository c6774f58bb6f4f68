"""Load a million contacts (with companies, addresses, tags, interactions and orders) into PostgreSQL, fast.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_bench .venv/bin/python bench/seed_contacts.py
    ... --contacts 200000      # another size
    ... --reset                # empty the CRM tables first (TRUNCATE … CASCADE)
    ... --append               # add to the contacts already there

Steps:
  1. Refuse SQLite; apply migrations; refuse a database that already has contacts unless --append or --reset.
  2. Reference rows through the ORM: staff users (owners), tags, products.
  3. In one transaction: drop the tables' non-unique secondary indexes (rebuilding a trigram index once is far
     cheaper than maintaining it row by row), COPY companies, then contacts and their child rows in chunks,
     rebuild the indexes from their saved definitions, and move each id sequence past the new rows.
     Unique indexes, foreign keys and check constraints stay in place, so the data is checked as it lands.
  4. VACUUM (ANALYZE): fresh statistics for the planner, and a visibility map so that counts can use
     index-only scans, as they would on a table that autovacuum has settled.
  5. The customer analysis the contact list shows (segment, spend, last purchase), computed by the nightly
     task's service, unless --skip-analysis.

The model-level derived columns are written as the models would write them: ``search_name`` (lower-cased
"first last" / company name), lower-cased e-mail addresses, E.164 phone numbers, order totals equal to the sum of
their lines (``OrderLine.line_total`` is a generated column and is left to the database). Ids are assigned here,
so this is for a benchmark database, not one that is being written to at the same time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

import phonenumbers  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, models, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from psycopg import sql  # noqa: E402
from tqdm import tqdm  # noqa: E402

from crm.models import (  # noqa: E402
    Company,
    Contact,
    ContactAnalysis,
    ContactEmail,
    ContactPhone,
    Interaction,
    Order,
    OrderLine,
    Product,
    Tag,
    User,
)
from crm.services.analysis import analysis_recompute  # noqa: E402


def _words(text: str) -> list[str]:
    return text.split()


def _columns(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CHUNK = 20_000  # contacts per round of COPY statements (about 150,000 rows of all kinds)

FIRST_NAMES = _words(
    """
Aaliyah Aaron Abdul Ada Adam Adrian Agnes Ahmed Aiko Alan Albert Alejandro Alessandro Alexander Alice Amara Amelia
Amir Ana Anders Andrea Andrei Angela Anna Anton Arjun Astrid Ava Ayesha Beatriz Ben Benedikt Bianca Björn Bruno
Camille Carla Carlos Caroline Chen Chiara Chloe Christian Clara Daniel Daria David Diego Dmitri Elena Elias Elif Ella
Emil Emily Emma Erik Fatima Felix Finn Florian Francesca Frederik Gabriel Giulia Greta Hana Hannah Hans Hugo Ibrahim
Ines Ingrid Isabel Ivan Jakob James Jana Javier Jonas Jose Julia Julian Kai Karin Karl Katarina Kenji Kira Lars Laura
Lea Leon Liam Lina Linnea Lucas Lucia Luis Luka Maja Marco Maria Marie Marta Mateo Matteo Max Maya Mehmet Mia Mika
Mohammed Mona Nadia Nico Nils Noah Nora Olga Oliver Omar Oscar Paul Pedro Petra Priya Rafael Raphael Rosa Ryan Sara
Sebastian Sofia Sophie Stefan Sven Tara Theo Thomas Tobias Umar Valentina Vera Victor Wei Yara Yusuf Zoe Zofia
"""
)
LAST_NAMES = _words(
    """
Abbott Adler Agarwal Ahmadi Albrecht Alvarez Andersen Andersson Arnold Bach Bader Baker Barbieri Bauer Baumann Becker
Bellini Berg Berger Bergström Bianchi Blanc Bohm Brandt Braun Brown Bruno Burke Campbell Carlsson Caruso Castro Chen
Clarke Colombo Conti Costa Cruz Dahl Davies Dietrich Dubois Duval Eriksson Esposito Evans Faber Fernandes Ferrari
Fischer Fontana Foster Frank Franke Fuchs Galli Garcia Gomez Graf Greco Gross Gruber Günther Haas Hahn Hansen
Hartmann Hayes Heller Herrmann Hoffmann Hofmann Horvat Huber Hughes Ivanov Jansen Jensen Johansson Jovanovic Jung
Kaiser Karlsson Kaya Keller Kelly Kim Klein Koch Kovac Kowalski Krause Kraus Kuhn Kumar Lange Larsen Laurent Lehmann
Leone Lindberg Lombardi Lopez Lorenz Ludwig Lund Maier Marino Martin Martinez Mayer Meier Meyer Moreau Moretti Morris
Müller Murphy Nagy Neumann Nielsen Novak Nowak Nguyen Olsen Ortiz Otto Patel Pavlov Peters Petrov Pfeiffer Popescu
Quinn Ramos Reyes Ricci Richter Rizzo Romano Rossi Roth Russo Sanchez Santos Sauer Schäfer Schmid Schmidt Schmitt
Schneider Scholz Schreiber Schröder Schulz Schuster Schwarz Silva Simon Smith Sommer Stein Sturm Suzuki Svensson
Tanaka Taylor Thomas Torres Vogel Vogt Wagner Walter Weber Weiss Werner Wilson Winkler Wolf Yamamoto Yilmaz Zimmermann
"""
)
COMPANY_WORDS = _words(
    """
Alpine Amber Apex Arrow Aurora Birch Blue Bright Cedar Cobalt Coral Crest Delta Eagle Echo Ember Evergreen Falcon
Fjord Forge Granite Harbor Iris Juniper Kestrel Lumen Maple Meadow Nimbus Nova North Oak Orbit Pine Prism Quartz
Raven River Sage Silver Solstice Summit Tundra Vertex Willow Zenith
"""
)
COMPANY_KINDS = _words(
    """
Analytics Bakery Bikes Clinic Cloud Consulting Dental Design Energy Fitness Foods Gear Hotels Insurance Labs Legal
Logistics Media Outdoor Pharma Robotics Schools Software Studios Systems Textiles Travel Wellness Works
"""
)
COMPANY_SUFFIXES = ["", "", "", " GmbH", " Ltd", " Inc", " AG", " & Co", " SA"]
INDUSTRIES = [
    "Retail",
    "Software",
    "Hospitality",
    "Logistics",
    "Food & beverage",
    "Healthcare",
    "Education",
    "Finance",
    "Media",
    "Energy",
    "",
]
CITIES = [
    ("Berlin", "DE", "10115"),
    ("Hamburg", "DE", "20095"),
    ("Munich", "DE", "80331"),
    ("London", "GB", "EC1A 1BB"),
    ("Paris", "FR", "75001"),
    ("San Francisco", "US", "94103"),
    ("New York", "US", "10001"),
    ("Austin", "US", "73301"),
]
MAIL_DOMAINS = ["mail.example", "post.example", "inbox.example", "web.example", "home.example"]
JOB_TITLES = ["", "", "Buyer", "Owner", "Office manager", "Head of purchasing", "Marketing lead", "CTO", "Consultant"]
SOURCES = ["", "web form", "trade fair", "referral", "instagram", "import", "newsletter"]
LANGUAGES = ["", "", "en", "de", "fr", "es", "it"]
TAG_NAMES = [
    "vip",
    "newsletter",
    "wholesale",
    "partner",
    "churn-risk",
    "event-2026",
    "b2b",
    "b2c",
    "loyalty",
    "do-not-call",
    "beta",
    "referral",
]
SUBJECTS = {
    "call": ["Intro call", "Follow-up on quote", "Support: sizing question", "Renewal call"],
    "email": ["Quote sent", "Order confirmation question", "Newsletter reply", "Invoice copy"],
    "meeting": ["Showroom visit", "Quarterly review", "Product demo"],
    "note": ["Prefers e-mail over phone", "Interested in winter range", "Asked for wholesale terms"],
    "task": ["Send catalogue", "Call back about delivery", "Prepare renewal offer", "Check return status"],
}
OUTCOMES = ["", "connected", "voicemail", "demo booked", "no answer"]
# Valid numbers (phonenumbers.is_valid_number): US area codes with any exchange 200–999, Berlin landlines.
US_AREA_CODES = ["212", "206", "303", "305", "312", "404", "415", "512", "617", "646", "702", "713"]

# Columns written per table; ``_check_columns`` refuses to run when a model gains a required column missing here.
# Left out: deleted_at/deleted_by (NULL: alive), OrderLine.line_total (generated by the database).
COLUMNS: dict[type[models.Model], tuple[str, ...]] = {
    Company: _columns(
        "id created_at updated_at name domain industry size_band address_line1 address_line2 city region "
        "postal_code country phone notes external_id search_name owner_id"
    ),
    Contact: _columns(
        "id created_at updated_at first_name last_name job_title stage source preferred_language attributes "
        "external_id search_name company_id owner_id"
    ),
    ContactEmail: ("id", "contact_id", "email", "label", "is_primary"),
    ContactPhone: ("id", "contact_id", "number", "label", "is_primary"),
    Contact.tags.through: ("id", "contact_id", "tag_id"),
    Interaction: _columns(
        "id created_at updated_at kind direction subject body occurred_at duration outcome due_at done done_at "
        "company_id contact_id staff_id"
    ),
    Order: _columns("id created_at updated_at number ordered_at status currency total company_id contact_id"),
    OrderLine: ("id", "order_id", "product_id", "quantity", "unit_price"),
}
# Emptied by --reset (CASCADE also empties tables that point at them, e.g. consents and conversations).
RESET_MODELS: tuple[type[models.Model], ...] = (OrderLine, Order, Interaction, Contact, Company)


@dataclass(frozen=True)
class Reference:
    staff_ids: list[int]
    tag_ids: list[int]
    products: list[tuple[int, int]]  # (id, price in cents)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contacts", type=int, default=1_000_000, help="contacts to add (default 1,000,000)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--append", action="store_true", help="add to the contacts already in the database")
    mode.add_argument("--reset", action="store_true", help="empty the CRM tables first (TRUNCATE … CASCADE)")
    parser.add_argument("--skip-analysis", action="store_true", help="do not compute the customer analysis")
    parser.add_argument("--seed", type=int, default=20261123, help="random seed (default: fixed)")
    args = parser.parse_args(argv)
    if args.contacts < 1:
        parser.error("--contacts must be at least 1")

    if connection.vendor != "postgresql":
        print(
            f"Refusing to run on {connection.vendor}: this benchmark loads PostgreSQL with COPY.\n"
            "Set DATABASE_URL, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_bench "
            "(createdb -h 127.0.0.1 -U postgres scrm_bench).",
            file=sys.stderr,
        )
        return 2
    _check_columns()
    _check_phones()
    database = connection.settings_dict["NAME"]
    print(f"Database {database!r}: applying migrations …")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)

    existing = Contact.all_objects.count()
    if existing and not (args.append or args.reset):
        print(
            f"Refusing to run: {database!r} already has {existing:,} contacts. "
            "Pass --append to add to them or --reset to empty the CRM tables first.",
            file=sys.stderr,
        )
        return 2

    started = time.perf_counter()
    if args.reset and existing:
        _truncate()
    reference = _reference_rows()
    with transaction.atomic():
        rows_written = _load(contacts=args.contacts, reference=reference, seed=args.seed)
    print("VACUUM (ANALYZE) …")
    with connection.cursor() as cursor:
        for model in COLUMNS:
            cursor.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(model._meta.db_table)))
    loaded = time.perf_counter() - started
    total = sum(rows_written.values())
    print(", ".join(f"{count:,} {model._meta.db_table}" for model, count in rows_written.items()))
    print(f"Loaded {total:,} rows in {loaded:.1f} s: {total / loaded:,.0f} rows/s ({args.contacts:,} contacts).")

    if not args.skip_analysis:
        # The contact list shows and filters on the nightly analysis (segment, spend, last purchase): compute it
        # now, through the same service as the nightly task, so that the list is measured as staff see it.
        print("Customer analysis (crm.services.analysis.analysis_recompute) …")
        result = analysis_recompute()
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(ContactAnalysis._meta.db_table)))
        print(
            f"Analysed {result.contacts:,} contacts ({result.purchasers:,} with purchases) in {result.seconds:.1f} s."
        )
    print(f"Total {time.perf_counter() - started:.1f} s.")
    return 0


def _check_columns() -> None:
    for model, columns in COLUMNS.items():
        fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.GeneratedField)]
        known = {f.column for f in fields}
        if unknown := set(columns) - known:
            raise SystemExit(
                f"{model._meta.db_table}: no such columns {sorted(unknown)}; update bench/seed_contacts.py"
            )
        if missing := {f.column for f in fields if not f.null} - set(columns):
            raise SystemExit(
                f"{model._meta.db_table}: required columns {sorted(missing)} are not filled; "
                "update bench/seed_contacts.py"
            )


def _check_phones() -> None:
    """Every shape of number the generator makes must be valid for its country (checked on a sample)."""
    rng = random.Random(0)
    for n in [rng.randrange(10**9) for _ in range(2_000)] + list(range(24)):
        number = _phone(n)
        if not phonenumbers.is_valid_number(phonenumbers.parse(number)):
            raise SystemExit(f"The generator made an invalid phone number {number}; fix _phone()")


def _truncate() -> None:
    tables = sql.SQL(", ").join(sql.Identifier(m._meta.db_table) for m in RESET_MODELS)
    print(f"Emptying {', '.join(m._meta.db_table for m in RESET_MODELS)} (and the tables that point at them) …")
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))


def _reference_rows() -> Reference:
    staff_ids = []
    for n in range(1, 11):
        user, created = User.objects.get_or_create(
            username=f"bench-staff-{n:02d}",
            defaults={"first_name": "Bench", "last_name": f"Staff {n:02d}", "is_staff": True},
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        staff_ids.append(user.pk)
    tag_ids = []
    for name in TAG_NAMES:
        tag = Tag.objects.filter(name__iexact=name).first() or Tag.objects.create(name=name)
        tag_ids.append(tag.pk)
    rng = random.Random(1)
    products = []
    for n in range(1, 51):
        product, _ = Product.objects.get_or_create(
            sku=f"BENCH-{n:03d}",
            defaults={"name": f"Bench product {n:03d}", "price": Decimal(rng.randint(500, 50_000)) / 100},
        )
        products.append((product.pk, int(product.price * 100)))  # price is a Decimal
    return Reference(staff_ids=staff_ids, tag_ids=tag_ids, products=products)


def _load(*, contacts: int, reference: Reference, seed: int) -> dict[type[models.Model], int]:
    connection.ensure_connection()
    pg = connection.connection  # the psycopg connection under Django's
    if pg is None:
        raise SystemExit("no database connection")
    tables = [model._meta.db_table for model in COLUMNS]
    with pg.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at commit, they would queue millions of
        # trigger events and block the index rebuild ("pending trigger events"). Check each row as it lands.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            WHERE t.relname = ANY(%s) AND NOT i.indisunique
            ORDER BY t.relname, 1
            """,
            [tables],
        )
        secondary_indexes: list[tuple[str, str]] = cursor.fetchall()
        for name, _ in secondary_indexes:
            cursor.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))

        generator = Generator(
            first_ids={model: _first_free_id(cursor, model) for model in COLUMNS},
            reference=reference,
            contacts=contacts,
            seed=seed,
        )
        written = dict.fromkeys(COLUMNS, 0)
        companies = generator.companies(max(1, contacts // 20))
        _copy(cursor, Company, companies)
        written[Company] += len(companies)
        # Python makes the next chunk while PostgreSQL takes in the current one (2 cores: both stay busy).
        sizes = [min(CHUNK, contacts - start) for start in range(0, contacts, CHUNK)]
        with (
            ThreadPoolExecutor(max_workers=1) as pool,
            tqdm(total=contacts, unit=" contacts", unit_scale=True, desc="COPY") as progress,
        ):
            pending = pool.submit(generator.chunk, sizes[0])
            for n, size in enumerate(sizes):
                rows = pending.result()
                if n + 1 < len(sizes):
                    pending = pool.submit(generator.chunk, sizes[n + 1])
                for model, model_rows in rows.items():
                    _copy(cursor, model, model_rows)
                    written[model] += len(model_rows)
                progress.update(size)

        for _, definition in tqdm(secondary_indexes, desc="Rebuilding indexes", unit=" indexes"):
            cursor.execute(definition)
        for model, next_id in generator.next_id.items():
            if next_id > 1:
                table = model._meta.db_table
                cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, next_id - 1])
    return written


def _first_free_id(cursor: Any, model: type[models.Model]) -> int:
    table = model._meta.db_table
    cursor.execute(sql.SQL("SELECT COALESCE(MAX(id), 0) FROM {}").format(sql.Identifier(table)))
    (max_id,) = cursor.fetchone()
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    (sequence,) = cursor.fetchone()
    cursor.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(sequence)))
    last_value, is_called = cursor.fetchone()
    return int(max(max_id, last_value if is_called else 0)) + 1


def _copy(cursor: Any, model: type[models.Model], rows: Iterable[tuple[Any, ...]]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[model]))
    )
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _ascii(text: str) -> str:
    text = text.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _phone(n: int) -> str:
    """A valid E.164 number, distinct for each ``n`` below 96 million: US (3 in 5) or Berlin landline."""
    n = (n * 7919) % 96_000_000  # spread consecutive ids over the number space
    if n % 5 < 3:
        area = US_AREA_CODES[n % 12]
        rest = n // 12
        return f"+1{area}{200 + rest % 800}{rest // 800 % 10_000:04d}"
    return f"+4930{n:08d}"


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _weighted(weights: dict[Any, int]) -> tuple[Any, ...]:
    """A pool in which each value appears ``weight`` times: picking from it by index beats random.choices."""
    return tuple(value for value, weight in weights.items() for _ in range(weight))


class Generator:
    """Makes the rows, assigning ids itself so that children can point at parents before anything is written."""

    STAGES = _weighted(dict(zip(Contact.Stage.values, (50, 20, 25, 5), strict=True)))
    INTERACTIONS_PER_CONTACT = _weighted({0: 10, 1: 25, 2: 30, 3: 20, 4: 15})  # about 2
    KINDS = _weighted({"call": 25, "email": 30, "meeting": 10, "note": 15, "task": 20})
    ORDERS_PER_CONTACT = _weighted({0: 60, 1: 30, 2: 10})  # about 0.5
    ORDER_STATUSES = _weighted(
        {"completed": 60, "shipped": 10, "paid": 10, "pending": 10, "cancelled": 5, "refunded": 5}
    )

    def __init__(
        self, *, first_ids: dict[type[models.Model], int], reference: Reference, contacts: int, seed: int
    ) -> None:
        self.next_id = dict(first_ids)
        self.reference = reference
        self.contacts = contacts
        self.first_contact_id = first_ids[Contact]
        self.rng = random.Random(seed + first_ids[Contact])  # an --append run makes different people
        self.now = timezone.now()
        self.company_domains: dict[int, str] = {}
        self.company_ids: list[int] = []
        self.ascii_names = {name: _ascii(name) for name in FIRST_NAMES + LAST_NAMES}

    def take(self, model: type[models.Model]) -> int:
        value = self.next_id[model]
        self.next_id[model] = value + 1
        return value

    def pick(self, values: Sequence[Any]) -> Any:
        return values[int(self.rng.random() * len(values))]

    def companies(self, count: int) -> list[tuple[Any, ...]]:
        rows = [self._company() for _ in range(count)]
        self.company_domains = {row[0]: row[4] for row in rows}
        self.company_ids = list(self.company_domains)
        return rows

    def chunk(self, size: int) -> dict[type[models.Model], list[tuple[Any, ...]]]:
        """``size`` contacts with their child rows, per table in COPY order (parents first)."""
        rows: dict[type[models.Model], list[tuple[Any, ...]]] = {model: [] for model in COLUMNS if model is not Company}
        for _ in range(size):
            self._contact(rows)
        return rows

    def _company(self) -> tuple[Any, ...]:
        rng, pick, now = self.rng, self.pick, self.now
        company_id = self.take(Company)
        first_word = pick(LAST_NAMES) if rng.random() < 0.4 else pick(COMPANY_WORDS)
        name = f"{first_word} {pick(COMPANY_KINDS)}{pick(COMPANY_SUFFIXES)}"
        city, country, postal_code = pick(CITIES)
        created = now - dt.timedelta(days=rng.uniform(30, 5 * 365))
        return (
            company_id,
            created,
            created + (now - created) * rng.random(),
            name,
            f"{_ascii(first_word)}{company_id}.example",
            pick(INDUSTRIES),
            pick([*Company.SizeBand.values, ""]),
            f"{rng.randint(1, 200)} {pick(COMPANY_WORDS)} Street",
            "",
            city,
            "",
            postal_code,
            country,
            _phone(50_000_000 + company_id) if rng.random() < 0.7 else "",
            "",
            f"bench-co-{company_id}" if rng.random() < 0.1 else None,
            name.lower(),
            pick(self.reference.staff_ids) if rng.random() < 0.8 else None,
        )

    def _contact(self, out: dict[type[models.Model], list[tuple[Any, ...]]]) -> None:
        rng, pick, now, take = self.rng, self.pick, self.now, self.take
        random_ = rng.random
        staff_ids = self.reference.staff_ids
        contact_id = take(Contact)
        first, last = pick(FIRST_NAMES), pick(LAST_NAMES)
        company_id = pick(self.company_ids) if random_() < 0.8 else None
        # Older ids were created earlier: the list's default order (newest first) then matches creation time.
        position = (contact_id - self.first_contact_id) / self.contacts
        created = now - dt.timedelta(days=5 * 365 * (1 - position) + random_())
        age = now - created
        out[Contact].append(
            (
                contact_id,
                created,
                created + age * random_() ** 3,
                first,
                last,
                pick(JOB_TITLES),
                pick(self.STAGES),
                pick(SOURCES),
                pick(LANGUAGES),
                "{}",
                f"bench-{contact_id}" if random_() < 0.1 else None,
                f"{first} {last}".lower(),  # Contact.save() keeps search_name so
                company_id,
                pick(staff_ids) if random_() < 0.7 else None,
            )
        )

        first_ascii, last_ascii = self.ascii_names[first], self.ascii_names[last]
        domain = self.company_domains[company_id] if company_id and random_() < 0.6 else pick(MAIL_DOMAINS)
        email = f"{first_ascii}.{last_ascii}.{contact_id}@{domain}"
        out[ContactEmail].append((take(ContactEmail), contact_id, email, "work", True))
        if random_() < 0.2:
            email = f"{first_ascii[:1]}{last_ascii}{contact_id}@{pick(MAIL_DOMAINS)}"
            out[ContactEmail].append((take(ContactEmail), contact_id, email, "home", False))
        if random_() < 0.85:
            out[ContactPhone].append((take(ContactPhone), contact_id, _phone(contact_id), "mobile", True))
            if random_() < 0.05:
                number = _phone(contact_id + 48_000_000)
                out[ContactPhone].append((take(ContactPhone), contact_id, number, "work", False))
        if random_() < 0.12:
            for tag_id in rng.sample(self.reference.tag_ids, k=1 if random_() < 0.7 else 2):
                out[Contact.tags.through].append((take(Contact.tags.through), contact_id, tag_id))

        for _ in range(pick(self.INTERACTIONS_PER_CONTACT)):
            kind = pick(self.KINDS)
            occurred = created + age * random_()
            due_at = done_at = None
            done = False
            if kind == "task":
                done = random_() < 0.6
                due_at = occurred + dt.timedelta(days=1 + 29 * random_())
                if not done:  # open tasks: half overdue, half due within the next month
                    due_at = now + dt.timedelta(days=1 + 29 * random_()) if random_() < 0.5 else now - age * random_()
                done_at = min(due_at, now) if done else None
            out[Interaction].append(
                (
                    take(Interaction),
                    occurred,
                    occurred,
                    kind,
                    pick(("inbound", "outbound")) if kind in ("call", "email") else "",
                    pick(SUBJECTS[kind]),
                    "",
                    occurred,
                    dt.timedelta(minutes=2 + int(58 * random_())) if kind in ("call", "meeting") else None,
                    pick(OUTCOMES) if kind == "call" else "",
                    due_at,
                    done,
                    done_at,
                    company_id if kind == "meeting" else None,
                    contact_id,
                    pick(staff_ids) if random_() < 0.9 else None,
                )
            )

        for _ in range(pick(self.ORDERS_PER_CONTACT)):
            order_id = take(Order)
            ordered = created + age * random_()
            total = 0
            for product_id, price in rng.sample(self.reference.products, k=1 + int(3 * random_())):
                quantity = 1 + int(5 * random_())
                total += quantity * price
                out[OrderLine].append((take(OrderLine), order_id, product_id, quantity, _money(price)))
            # Lines are written after their order (COPY order follows COLUMNS), whatever the list order here.
            out[Order].append(
                (
                    order_id,
                    ordered,
                    ordered,
                    f"BENCH-{order_id:08d}",
                    ordered,
                    pick(self.ORDER_STATUSES),
                    "EUR",
                    _money(total),  # = the sum of the lines' quantity × unit_price, as order_recalculate_total
                    company_id if random_() < 0.2 else None,
                    contact_id,
                )
            )


if __name__ == "__main__":
    sys.exit(main())
