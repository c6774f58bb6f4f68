"""Which API key a change came from (its origin), for the audit trail and for echo suppression: outbound
webhooks can skip telling a partner about the changes its own key made.

``PartnerAPIMixin`` sets the key for the duration of a request; every audit entry written meanwhile carries
``api_key_id`` and ``api_key`` (the prefix) in its ``additional_data``."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from crm.models import ApiKey

_current: ContextVar[ApiKey | None] = ContextVar("crm_api_key", default=None)


def current_api_key() -> ApiKey | None:
    """The key of the API request being handled, or None (admin, tasks, commands)."""
    return _current.get()


def enter(key: ApiKey | None) -> Token[ApiKey | None]:
    return _current.set(key)


def leave(token: Token[ApiKey | None]) -> None:
    _current.reset(token)


def stamp_log_entry(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_save`` receiver for auditlog's ``LogEntry`` (connected in ``CrmConfig.ready``)."""
    key = _current.get()
    if key is not None and instance.pk is None:
        instance.additional_data = {**(instance.additional_data or {}), "api_key_id": key.pk, "api_key": key.prefix}
