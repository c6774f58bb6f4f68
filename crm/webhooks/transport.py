"""One HTTP POST to a partner, made to an address ``addresses.webhook_target`` has already checked (the
host name still goes in ``Host`` and in TLS SNI/certificate checks). Redirects are not followed: a 3xx is a
failure, so an endpoint cannot bounce us to an address that was never checked."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from crm.webhooks.addresses import Target

RESPONSE_EXCERPT = 2000


@dataclass(frozen=True)
class Answer:
    status: int | None
    body: str
    duration_ms: int
    error: str = ""


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def pinned_connection(target: Target, *, address: str, timeout: float) -> http.client.HTTPConnection:
    """An HTTP(S) connection to ``target``'s host that connects to ``address`` (one of the checked
    ``target.addresses``) whatever DNS answers by then; TLS still verifies the host name. Not yet connected.
    Listening's feed fetcher uses it too (``social.listening.feeds``)."""
    connection_class = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    return connection_class(target.host, target.port, address=address, timeout=timeout)


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST ``body``; never raises for network trouble (it is reported in ``Answer.error``)."""
    started = time.monotonic()
    connection = pinned_connection(target, address=target.addresses[0], timeout=timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(RESPONSE_EXCERPT).decode("utf-8", errors="replace")
        return Answer(response.status, excerpt, _ms(started))
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, "", _ms(started), f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
