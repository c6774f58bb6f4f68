"""Rate limiting per key: X-RateLimit-* headers on every answer, 429 + Retry-After past the limit."""

from __future__ import annotations

from typing import Any

import pytest

from config.env import ConfigError
from config.settings import _rate
from tests.api.conftest import problem


def test_each_key_has_its_own_limit_with_headers(partner: Any, settings: Any) -> None:
    settings.API_RATE_LIMIT = "3/minute"
    shop, other = partner(), partner()
    answers = [shop.get("/api/v1/contacts/") for _ in range(3)]
    assert [a["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert answers[0]["X-RateLimit-Limit"] == "3" and 0 < int(answers[0]["X-RateLimit-Reset"]) <= 60
    refused = shop.get("/api/v1/contacts/")
    problem(refused, 429)
    assert 0 < int(refused["Retry-After"]) <= 60
    assert other.get("/api/v1/contacts/").status_code == 200  # another key is not affected


def test_a_bad_limit_stops_start_up() -> None:
    for bad in ("lots", "0/minute", "10/fortnight"):
        with pytest.raises(ConfigError, match="API_RATE_LIMIT"):
            _rate("API_RATE_LIMIT", bad)
    assert _rate("API_RATE_LIMIT", "10/second") == "10/second"
