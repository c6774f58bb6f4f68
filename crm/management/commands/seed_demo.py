"""Load a realistic demo data set: staff, companies, contacts, interactions, products and orders.

Idempotent: everything is created in one transaction, and a data set that is already there is left
alone, so a second ``make run`` adds nothing twice. A fixed random seed makes every install the same.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from crm.models import (
    Company,
    ConsentChannel,
    Contact,
    ContactConsent,
    ContactEmail,
    ContactPhone,
    Interaction,
    Product,
    Tag,
    User,
)
from crm.roles import AGENT, MANAGER
from crm.services.analysis import analysis_recompute
from crm.services.purchases import LineInput, order_create

FIRST = "Anna Ben Carla David Elena Farid Greta Hugo Ines Jonas Kira Luca Mona Nils Olga Paul Rosa Sven Tara Umar Vera Yusuf Zoe Liam Mia".split()
LAST = "Schmidt Müller Rossi García Dubois Novak Jensen Silva Kowalski Andersson Yilmaz Costa Weber Fischer Moreau Brown Nguyen Patel Kim Smith".split()
COMPANIES = [
    ("Acme Outdoor", "acme-outdoor.example", "Retail"),
    ("Bergblick Hotels", "bergblick.example", "Hospitality"),
    ("Cobalt Analytics", "cobalt.example", "Software"),
    ("Delta Logistics", "delta-log.example", "Logistics"),
    ("Evergreen Foods", "evergreen.example", "Food & beverage"),
    ("Fjord Fitness", "fjordfit.example", "Fitness"),
    ("Granite Insurance", "granite.example", "Insurance"),
    ("Harbor Dental", "harbordental.example", "Healthcare"),
    ("Iris Cosmetics", "iris.example", "Retail"),
    ("Juniper Schools", "juniper.example", "Education"),
    ("Kestrel Bikes", "kestrel.example", "Retail"),
    ("Lumen Energy", "lumen.example", "Energy"),
    ("Maple Bakery", "maple.example", "Food & beverage"),
    ("Nimbus Cloud", "nimbus.example", "Software"),
    ("Orbit Travel", "orbit.example", "Travel"),
    ("Pine & Co Legal", "pinelegal.example", "Legal"),
    ("Quartz Studios", "quartz.example", "Media"),
    ("Riverbank Credit Union", "riverbank.example", "Finance"),
    ("Solstice Spa", "solstice.example", "Wellness"),
    ("Tundra Gear", "tundra.example", "Retail"),
]
PRODUCTS = [
    ("Trail Backpack 30L", "BAG-030", "89.00"),
    ("Trail Backpack 45L", "BAG-045", "119.00"),
    ("Rain Shell Jacket", "JKT-RAIN", "149.00"),
    ("Down Vest", "VST-DOWN", "99.00"),
    ("Merino Base Layer", "BL-MER", "65.00"),
    ("Hiking Boots", "BOOT-HK", "179.00"),
    ("Trekking Poles", "POLE-TR", "59.00"),
    ("Headlamp 400", "LAMP-400", "39.00"),
    ("Water Filter", "H2O-FLT", "45.00"),
    ("Camp Stove", "STOVE-1", "75.00"),
    ("2-Person Tent", "TENT-2P", "329.00"),
    ("Sleeping Bag -5°C", "SB-M5", "219.00"),
    ("Gift Card 50", "GIFT-50", "50.00"),
    ("Care Kit", "CARE-KIT", "19.00"),
    ("Annual Membership", "MEMB-Y", "49.00"),
]
TAGS = ["vip", "newsletter", "wholesale", "partner", "churn-risk", "event-2026"]
STAFF = [("maria", "Maria", "Manager", MANAGER), ("sam", "Sam", "Agent", AGENT), ("lee", "Lee", "Agent", AGENT)]
PHONE_PREFIXES = ["+1415555", "+1202555", "+4930901", "+4420794", "+3314268"]
SUBJECTS = {
    "call": ["Intro call", "Follow-up on quote", "Support: sizing question", "Renewal call"],
    "email": ["Quote sent", "Order confirmation question", "Newsletter reply", "Invoice copy"],
    "meeting": ["Showroom visit", "Quarterly review", "Product demo"],
    "note": ["Prefers e-mail over phone", "Interested in winter range", "Asked for wholesale terms"],
    "task": ["Send catalogue", "Call back about delivery", "Prepare renewal offer", "Check return status"],
}
MARKER = "demo-"


class Command(BaseCommand):
    help = "Load the demo data set (safe to run again: an existing demo data set is left as it is)."

    def handle(self, *args: Any, **options: Any) -> None:
        if Contact.all_objects.filter(external_id__startswith=MARKER).exists():
            self.stdout.write("Demo data already loaded; nothing added.")
            return
        rng = random.Random(20261123)
        with transaction.atomic():
            counts = self._load(rng)
        analysis_recompute()  # so the demo's contact list shows RFM segments straight away
        self.stdout.write(self.style.SUCCESS("Demo data loaded: " + ", ".join(f"{n} {k}" for k, n in counts.items())))

    def _load(self, rng: random.Random) -> dict[str, int]:
        now = timezone.now()
        staff = []
        for username, first, last, role in STAFF:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last, "is_staff": True, "email": f"{username}@example.com"},
            )
            if created:
                user.set_unusable_password()  # an administrator sets a password before they sign in
                user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=role))
            staff.append(user)
        tags = {name: Tag.objects.get_or_create(name=name)[0] for name in TAGS}
        products = [
            Product.objects.get_or_create(sku=sku, defaults={"name": name, "price": Decimal(price)})[0]
            for name, sku, price in PRODUCTS
        ]
        companies: list[Company] = []
        for i, (name, domain, industry) in enumerate(COMPANIES, start=1):
            new_company = Company(
                name=name,
                domain=domain,
                industry=industry,
                size_band=rng.choice(Company.SizeBand.values),
                city=rng.choice(["Berlin", "London", "Paris", "San Francisco", "Washington"]),
                country=rng.choice(["DE", "GB", "FR", "US"]),
                owner=rng.choice(staff),
                external_id=f"{MARKER}co-{i:03d}",
            )
            new_company.save()
            new_company.tags.set(rng.sample(list(tags.values()), k=rng.randint(0, 2)))
            companies.append(new_company)

        contacts, interactions, orders = 0, 0, 0
        company: Company | None
        for i in range(1, 201):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = rng.choice(companies) if rng.random() < 0.7 else None
            stage = rng.choices(Contact.Stage.values, weights=[3, 2, 4, 1])[0]
            contact = Contact(
                first_name=first,
                last_name=last,
                company=company,
                stage=stage,
                owner=rng.choice(staff),
                job_title=rng.choice(["", "Buyer", "Owner", "Office manager", "Head of purchasing", "Marketing lead"]),
                source=rng.choice(["web form", "trade fair", "referral", "instagram", "import"]),
                preferred_language=rng.choice(["en", "de", "fr", "es", ""]),
                external_id=f"{MARKER}ct-{i:04d}",
            )
            contact.save()
            contacts += 1
            domain = company.domain if company else rng.choice(["mail.example", "post.example"])
            ContactEmail.objects.create(
                contact=contact, email=f"{first}.{last}{i}@{domain}".lower(), is_primary=True, label="work"
            )
            if rng.random() < 0.8:
                ContactPhone.objects.create(
                    contact=contact, number=f"{rng.choice(PHONE_PREFIXES)}{i:04d}", is_primary=True, label="mobile"
                )
            if rng.random() < 0.6:
                ContactConsent.objects.create(
                    contact=contact,
                    channel=rng.choice([ConsentChannel.EMAIL, ConsentChannel.SMS, ConsentChannel.WHATSAPP]),
                    status=rng.choice(ContactConsent.Status.values),
                    recorded_at=now - dt.timedelta(days=rng.randint(1, 400)),
                    method=rng.choice(ContactConsent.Method.values),
                )
            contact.tags.set(rng.sample(list(tags.values()), k=rng.randint(0, 2)))
            for _ in range(rng.randint(0, 4)):
                kind = rng.choice(Interaction.Kind.values)
                occurred = now - dt.timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 1440))
                Interaction.objects.create(
                    kind=kind,
                    contact=contact,
                    company=company,
                    staff=rng.choice(staff),
                    direction="" if kind in ("note", "task") else rng.choice(Interaction.Direction.values),
                    subject=rng.choice(SUBJECTS[kind]),
                    occurred_at=occurred,
                    duration=dt.timedelta(minutes=rng.randint(3, 45)) if kind in ("call", "meeting") else None,
                    due_at=now + dt.timedelta(days=rng.randint(-10, 20)) if kind == "task" else None,
                    done=kind == "task" and rng.random() < 0.3,
                )
                interactions += 1
            if stage in ("customer", "churned"):
                for n in range(rng.randint(1, 5)):
                    lines = [
                        LineInput(product=p, quantity=rng.randint(1, 3))
                        for p in rng.sample(products, k=rng.randint(1, 3))
                    ]
                    order_create(
                        number=f"DEMO-{i:04d}-{n + 1}",
                        contact=contact,
                        company=company,
                        lines=lines,
                        ordered_at=now - dt.timedelta(days=rng.randint(1, 720)),
                        status=rng.choices(["completed", "shipped", "paid", "refunded"], weights=[6, 2, 1, 1])[0],
                    )
                    orders += 1
        return {
            "staff": len(staff),
            "companies": len(companies),
            "contacts": contacts,
            "interactions": interactions,
            "orders": orders,
            "products": len(products),
        }
