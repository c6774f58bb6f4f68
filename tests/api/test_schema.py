"""OpenAPI schema at /api/schema/ (generated without warnings) and Swagger UI at /api/docs/ from our static files."""

from __future__ import annotations

import io
import re
from typing import Any

from django.core.management import call_command
from django.test import Client


def test_schema_generates_cleanly_and_lists_the_endpoints(db: None) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out, stderr=err)
    assert "Warning" not in err.getvalue() and "Error" not in err.getvalue(), err.getvalue()
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths: dict[str, Any] = response.json()["paths"]
    for path in (
        "/api/v1/contacts/", "/api/v1/contacts/{id}/", "/api/v1/contacts/by-external-id/{external_id}/",
        "/api/v1/contacts/bulk/", "/api/v1/contacts/deletions/", "/api/v1/companies/", "/api/v1/companies/bulk/",
        "/api/v1/companies/deletions/", "/api/v1/interactions/", "/api/v1/tags/", "/api/v1/products/bulk/",
        "/api/v1/orders/{id}/", "/api/v1/orders/by-external-id/{external_id}/",
    ):  # fmt: skip
        assert path in paths, path
    params = {p["name"] for p in paths["/api/v1/contacts/"]["get"]["parameters"]}
    assert {"cursor", "limit", "ordering", "updated_after", "email", "phone", "tag", "search"} <= params
    patch = paths["/api/v1/contacts/{id}/"]["patch"]
    assert {"If-Match", "Idempotency-Key"} <= {p["name"] for p in patch["parameters"]}
    assert "412" in patch["responses"]
    assert "application/problem+json" in patch["responses"]["412"]["content"]
    assert {"ETag", "X-RateLimit-Remaining"} <= set(patch["responses"]["200"]["headers"])
    assert "Retry-After" in paths["/api/v1/contacts/"]["get"]["responses"]["429"]["headers"]


def test_docs_page_is_served_without_a_cdn(db: None) -> None:
    page = Client().get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    # Nothing loaded from another host (a random CSRF token may well contain the letters "cdn").
    external = re.findall(r'(?:src|href)\s*=\s*["\']((?:https?:)?//[^"\']+)', page, flags=re.IGNORECASE)
    assert external == [], external
    scripts = re.findall(r'src="(/static/drf_spectacular_sidecar/[^"]+\.js)"', page)
    assert scripts, page
    for script in scripts:  # served by us (whitenoise), not fetched from elsewhere
        assert Client().get(script).status_code == 200, script
