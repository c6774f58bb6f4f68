"""API keys: an administrator creates one in the admin (shown once, stored hashed), scopes it, revokes it;
the partner authenticates with it. Every refusal is a problem+json answer."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from auditlog.models import LogEntry
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import ApiKey, Contact, User
from tests.api.conftest import problem


def test_administrator_creates_a_key_shown_once_and_the_partner_uses_it(
    ada: User, paul: User, login: Callable[[User], Client]
) -> None:
    admin = login(ada)
    response = admin.post(
        "/admin/crm/apikey/add/",
        {"name": "Shop sync", "user": paul.pk, "scopes": ["contacts:write"], "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    assert response.status_code == 200
    shown = re.search(r"The new key is (scrm_\w+_[\w-]+)", response.content.decode())
    assert shown, response.content.decode()[:3000]
    secret = shown.group(1)
    key = ApiKey.objects.get()
    assert secret.startswith(key.prefix) and secret not in (key.key_hash, key.prefix)
    assert key.created_by == ada and key.scopes == ["contacts:write"]

    # The change page never shows the key again.
    page = admin.get(f"/admin/crm/apikey/{key.pk}/change/").content.decode()
    assert key.prefix in page and secret not in page

    shop = APIClient()
    shop.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    created = shop.post("/api/v1/contacts/", {"first_name": "Lena", "last_name": "Vogel"}, format="json")
    assert created.status_code == 201, created.content
    key.refresh_from_db()
    assert key.last_used_at is not None
    # The change is audited with the partner's account as actor.
    entry = LogEntry.objects.get_for_object(Contact.objects.get()).get()
    assert entry.actor == paul


def test_staff_account_cannot_hold_a_key_and_managers_cannot_create_keys(
    ada: User, maria: User, login: Callable[[User], Client]
) -> None:
    response = login(ada).post("/admin/crm/apikey/add/", {"name": "x", "user": maria.pk, "scopes": ["contacts:read"]})
    assert response.status_code == 200 and "partner account" in response.content.decode()
    assert login(maria).get("/admin/crm/apikey/add/").status_code == 403
    assert not ApiKey.objects.exists()


def test_revoked_key_is_refused_at_once(ada: User, login: Callable[[User], Client], partner: Any) -> None:
    shop = partner()
    assert shop.get("/api/v1/contacts/").status_code == 200
    key = ApiKey.objects.get()
    login(ada).post("/admin/crm/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    body = problem(shop.get("/api/v1/contacts/"), 401)
    assert "revoked" in body["detail"]


def test_unknown_expired_and_missing_keys_get_401_with_a_challenge(partner: Any) -> None:
    anonymous = APIClient()
    response = anonymous.get("/api/v1/contacts/")
    problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer scrm_00000000_nope")
    assert "Unknown" in problem(anonymous.get("/api/v1/contacts/"), 401)["detail"]
    expired = partner(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert "expired" in problem(expired.get("/api/v1/contacts/"), 401)["detail"]


def test_key_without_the_scope_gets_403_never_data(partner: Any, make_contact: Any) -> None:
    make_contact()
    reader = partner(["contacts:read"])
    assert reader.get("/api/v1/contacts/").status_code == 200
    body = problem(reader.post("/api/v1/contacts/", {"first_name": "X"}, format="json"), 403)
    assert "contacts:write" in body["detail"]
    assert "companies:read" in problem(reader.get("/api/v1/companies/"), 403)["detail"]
    assert Contact.objects.count() == 1


def test_last_used_is_written_at_most_once_a_minute(partner: Any) -> None:
    shop = partner(["contacts:read"])
    shop.get("/api/v1/contacts/")
    key = ApiKey.objects.get()
    first = key.last_used_at
    assert first is not None
    shop.get("/api/v1/contacts/")
    key.refresh_from_db()
    assert key.last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    shop.get("/api/v1/contacts/")
    key.refresh_from_db()
    assert key.last_used_at > first - dt.timedelta(minutes=1)


def test_staff_session_is_scoped_by_django_permissions(
    sam: User, rita: User, login: Callable[[User], Client], make_contact: Any
) -> None:
    make_contact()
    read_only = APIClient()
    read_only.force_login(rita)
    assert read_only.get("/api/v1/contacts/").status_code == 200
    problem(read_only.post("/api/v1/contacts/", {"first_name": "X"}, format="json"), 403)
    agent = APIClient()
    agent.force_login(sam)
    created = agent.post("/api/v1/contacts/", {"first_name": "Y"}, format="json")
    assert created.status_code == 201
    problem(agent.delete(f"/api/v1/contacts/{created.json()['id']}/"), 403)  # agents never delete


def test_errors_are_problem_documents(partner: Any) -> None:
    shop = partner()
    assert problem(shop.get("/api/v1/nothing-here/"), 404)["detail"].startswith("No API endpoint")
    problem(shop.get("/api/v1/contacts/999999/"), 404)
    problem(shop.post("/api/v1/contacts/1/", {}, format="json"), 405)
    problem(shop.post("/api/v1/contacts/", "first_name=x", content_type="application/x-www-form-urlencoded"), 415)
    bad_json = problem(shop.post("/api/v1/contacts/", "{not json", content_type="application/json"), 400)
    assert "JSON" in bad_json["detail"]
    invalid = problem(
        shop.post("/api/v1/contacts/", {"first_name": "A", "stage": "king", "shoe_size": 42}, format="json"), 400
    )
    fields = {e["field"] for e in invalid["errors"]}
    assert fields == {"shoe_size"} or fields == {"stage", "shoe_size"}


def test_staff_session_needs_two_factor_when_required(sam: User, settings: Any) -> None:
    settings.STAFF_REQUIRE_2FA = True
    agent = APIClient()
    agent.force_login(sam)
    assert "two-factor" in problem(agent.get("/api/v1/contacts/"), 401)["detail"]
