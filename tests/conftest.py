"""Shared personas and helpers. Tests go through the interface (HTTP client, admin, commands)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from crm.models import Company, Contact, ContactEmail, ContactPhone, Product, User
from crm.roles import ADMINISTRATOR, AGENT, MANAGER, READ_ONLY

PASSWORD = "correct-horse-battery-staple"


def make_staff(username: str, role: str | None) -> User:
    user = User.objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD, is_staff=True
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def ada(db: None) -> User:
    """Administrator (through the role group, not the superuser flag)."""
    return make_staff("ada", ADMINISTRATOR)


@pytest.fixture
def maria(db: None) -> User:
    """Manager."""
    return make_staff("maria", MANAGER)


@pytest.fixture
def sam(db: None) -> User:
    """Agent."""
    return make_staff("sam", AGENT)


@pytest.fixture
def rita(db: None) -> User:
    """Read-only."""
    return make_staff("rita", READ_ONLY)


@pytest.fixture
def login() -> Callable[[User], Client]:
    def _login(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def make_contact(db: None) -> Callable[..., Contact]:
    counter = {"n": 0}

    def _make(
        first: str = "Anna",
        last: str = "Schmidt",
        *,
        email: str | None = None,
        phone: str | None = None,
        **fields: object,
    ) -> Contact:
        counter["n"] += 1
        contact = Contact.objects.create(first_name=first, last_name=last, **fields)
        ContactEmail.objects.create(
            contact=contact, email=email or f"{first}.{last}{counter['n']}@example.com".lower(), is_primary=True
        )
        if phone:
            ContactPhone.objects.create(contact=contact, number=phone, is_primary=True)
        return contact

    return _make


@pytest.fixture
def acme(db: None) -> Company:
    return Company.objects.create(name="Acme Outdoor", domain="acme.example")


@pytest.fixture
def backpack(db: None) -> Product:
    return Product.objects.create(name="Trail Backpack", sku="BAG-030", price=Decimal("89.00"))


def days_ago(n: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)
