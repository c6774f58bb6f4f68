"""Rate limit per API key (per user for staff sessions), with ``X-RateLimit-*`` headers on every answer and
429 + ``Retry-After`` past the limit. The limit is ``API_RATE_LIMIT`` (e.g. ``600/minute``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from crm.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "partner"

    def get_rate(self) -> str:
        # Read per request (not at import) so the setting can change in tests and per deployment.
        return str(settings.API_RATE_LIMIT)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiKey):
            ident = f"key:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None
        return f"throttle_{self.scope}_{ident}"

    def allow_request(self, request: Request, view: Any) -> bool:
        allowed = super().allow_request(request, view)
        limit, duration = self.parse_rate(self.get_rate())
        if self.key is not None and limit is not None and duration is not None:
            used = len(self.history)
            oldest = self.history[-1] if self.history else self.now
            request._scrm_rate_limit = {  # type: ignore[attr-defined]
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(limit - used, 0)),
                # Seconds until the oldest counted request leaves the window (and frees a slot).
                "X-RateLimit-Reset": str(max(int(oldest + duration - self.now + 0.999), 0)),
            }
        return allowed


def rate_limit_headers(request: Request) -> dict[str, str]:
    return getattr(request, "_scrm_rate_limit", {})
