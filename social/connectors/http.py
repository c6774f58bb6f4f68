"""Outbound HTTP for connectors: stdlib ``urllib`` with a timeout always, errors sorted into transient
(timeouts, connection failures, 429, 5xx: retried) and permanent (other 4xx: shown to staff)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from social import conf
from social.connectors.base import PermanentSendError, TransientSendError

ErrorText = Callable[[Any], str]


def _default_error_text(data: Any) -> str:
    return json.dumps(data)[:500] if data is not None else ""


def request_json(
    url: str,
    *,
    method: str = "POST",
    json_body: Any = None,
    form: dict[str, str] | None = None,
    raw_body: bytes | None = None,
    headers: dict[str, str] | None = None,
    basic_auth: tuple[str, str] | None = None,
    error_text: ErrorText = _default_error_text,
    transient_if: Callable[[Any], bool] | None = None,
) -> Any:
    """Call a provider and return its decoded JSON answer (``None`` for an empty one)."""
    all_headers = {"Accept": "application/json", "User-Agent": "social-crm/1"}
    body: bytes | None = raw_body
    if json_body is not None:
        body = json.dumps(json_body).encode()
        all_headers["Content-Type"] = "application/json"
    elif form is not None:
        from urllib.parse import urlencode

        body = urlencode(form).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    if basic_auth:
        token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
        all_headers["Authorization"] = f"Basic {token}"
    all_headers.update(headers or {})
    if not url.startswith(("https://", "http://")):
        raise PermanentSendError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, data=body, method=method, headers=all_headers)  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(request, timeout=conf.http_timeout()) as response:  # noqa: S310
            payload = response.read()
    except urllib.error.HTTPError as exc:
        data = _decode(exc.read())
        reason = error_text(data) or f"HTTP {exc.code}"
        if exc.code == 429 or exc.code >= 500 or (transient_if is not None and transient_if(data)):
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            raise TransientSendError(
                f"HTTP {exc.code}: {reason}", status=exc.code, retry_after=_seconds(retry_after)
            ) from None
        raise PermanentSendError(reason, status=exc.code) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise TransientSendError(f"cannot reach the provider: {exc}") from None
    return _decode(payload)


def _decode(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", errors="replace")[:500]


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
