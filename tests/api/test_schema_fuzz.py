"""Property-based fuzz of the partner API against its own OpenAPI schema (schemathesis, through WSGI, with a
real API key holding every scope): no request may cause a server error, and every answer must match the
schema (status code, content type, headers, body). Bounded for CI: a few examples per operation, derandomized
so a failure reproduces; ``SCRM_FUZZ_EXAMPLES`` raises the count for a longer local run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm.api.scopes import RESOURCES
from crm.models import User
from crm.services.api_keys import api_key_create

EXAMPLES = int(os.environ.get("SCRM_FUZZ_EXAMPLES", "8"))
# Random generation only by default; SCRM_FUZZ_COVERAGE=1 adds schemathesis's coverage phase (boundary values
# and invalid variants of every parameter: thorough, but minutes rather than seconds).
PHASES = [Phase.explicit, Phase.generate] if os.environ.get("SCRM_FUZZ_COVERAGE") == "1" else [Phase.generate]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Loaded at collection through the WSGI app, as a partner's tool would fetch it (``from_fixture`` would be
# lazier but does not work with pytest 9).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application()).include(path_regex="^/api/v1/")


@pytest.fixture(autouse=True)
def _wsgi_in_test_transaction(db: None, settings: Any) -> Iterator[None]:
    settings.API_RATE_LIMIT = "100000/minute"
    settings.API_SYNC_SETTLE_SECONDS = 0
    # As Django's test client does: a request must not close the connection holding the test transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def partner_key(db: None) -> str:
    paul = User.objects.create_user(username="fuzz-partner", password=None)
    _key, secret = api_key_create(
        name="Fuzz", user=paul, scopes=[f"{name}:write" for name in RESOURCES], expires_at=None, created_by=None
    )
    return secret


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=PHASES,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_schema_without_server_errors(case: Any, partner_key: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {partner_key}"}, checks=CHECKS)
