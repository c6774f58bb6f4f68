"""Typed readers for environment variables.

Every setting comes from the environment (STYLE.md §6). A bad value must stop start-up with a
message that names the variable, so each reader raises ``ConfigError`` instead of guessing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ImproperlyConfigured):
    """A variable in the environment has a value the product cannot run with."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        super().__init__(f"{name}: {problem}")


class Env:
    """Reads variables from a mapping (``os.environ`` by default) so tests can pass their own."""

    def __init__(self, source: Mapping[str, str] | None = None) -> None:
        self.source = os.environ if source is None else source

    def is_set(self, name: str) -> bool:
        return self.source.get(name, "").strip() != ""

    def text(self, name: str, default: str = "") -> str:
        value = self.source.get(name)
        return default if value is None or value.strip() == "" else value.strip()

    def flag(self, name: str, default: bool) -> bool:
        raw = self.source.get(name)
        # Empty means "not set", as for every other reader: `SECURE_SSL_REDIRECT=` left blank in a
        # compose file must keep the secure default, not switch it off.
        if raw is None or raw.strip() == "":
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigError(name, f"expected true/false (1/0, yes/no, on/off), got {raw!r}")

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        raw = self.source.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise ConfigError(name, f"must be at least {minimum}, got {value}")
        return value

    def items(self, name: str, default: list[str]) -> list[str]:
        raw = self.source.get(name)
        if raw is None or raw.strip() == "":
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def choice(self, name: str, default: str, choices: set[str]) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise ConfigError(name, f"expected one of {', '.join(sorted(choices))}, got {value!r}")
        return value
