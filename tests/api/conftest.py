"""Personas for the partner API: Ada (administrator, from tests/conftest.py) creates keys; Paul's shop system
uses them through the HTTP API with ``Authorization: Bearer <key>``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from crm.models import User
from crm.services.api_keys import api_key_create

ALL_SCOPES = ["contacts:write", "companies:write"]


@pytest.fixture(autouse=True)
def _no_settle(settings: Any) -> None:
    # The settle horizon (API_SYNC_SETTLE_SECONDS) has its own test; elsewhere fresh rows are listed at once.
    settings.API_SYNC_SETTLE_SECONDS = 0


@pytest.fixture
def paul(db: None) -> User:
    """The partner's account: not staff, cannot sign in to the admin; its keys act as it."""
    return User.objects.create_user(username="paul-shop", email="it@shop.example", password=None)


@pytest.fixture
def partner(paul: User) -> Callable[..., APIClient]:
    """A client holding a fresh key of Paul's with ``scopes`` (all resources, read and write, by default)."""

    def _partner(scopes: list[str] | None = None, **options: Any) -> APIClient:
        _key, secret = api_key_create(
            name="Shop sync", user=paul, scopes=ALL_SCOPES if scopes is None else scopes,
            expires_at=options.get("expires_at"), created_by=None,
        )  # fmt: skip
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        client.secret = secret  # type: ignore[attr-defined]
        return client

    return _partner


def problem(response: Any, status: int) -> dict[str, Any]:
    """The body of a problem answer, after checking its status and content type."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:scrm:problem:") and body["title"] and body["detail"]
    return body
