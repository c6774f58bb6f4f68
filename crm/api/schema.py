"""OpenAPI post-processing: the response headers every partner endpoint sends, described once here."""

from __future__ import annotations

from typing import Any

RATE_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed per window for this key (API_RATE_LIMIT)",
    "X-RateLimit-Remaining": "Requests left in the current window",
    "X-RateLimit-Reset": "Seconds until a request slot frees up",
}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


def add_response_headers(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: rate-limit headers on every answer, Retry-After on 429,
    ETag on single-record answers, Idempotent-Replayed on writes."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers.update({name: _header(text) for name, text in RATE_HEADERS.items()})
                if status == "429":
                    headers["Retry-After"] = _header("Seconds to wait before retrying")
                if status in {"200", "201"} and "results" not in str(response.get("content", "")) and "{" in path:
                    headers["ETag"] = _header("Version of the record; send it back as If-Match")
                if method in {"post", "put", "patch"}:
                    headers["Idempotent-Replayed"] = _header("true when this is the stored answer to a retry")
    return result
