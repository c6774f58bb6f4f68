"""Which webhook URLs may be called. In production (``SCRM_PRODUCTION``) a URL must be https and every
address its host resolves to must be public: no private, loopback, link-local, shared, multicast or
reserved ones, so a partner cannot point our server at the internal network (SSRF). The check runs when a
subscription is saved and again before every request, and the request goes to the address that was checked
(``transport``), so a DNS answer that changes in between (DNS rebinding) cannot slip through. Outside
production anything http(s) is allowed, so tests and local receivers can use loopback."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


class UnsafeURL(ValueError):
    """The URL cannot or may not be called; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def _split(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("enter an http:// or https:// URL with a host name")
    if parts.username or parts.password:
        raise UnsafeURL("credentials in the URL are not allowed")
    if settings.PRODUCTION and parts.scheme != "https":
        raise UnsafeURL("use an https:// URL")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"cannot resolve {host}: {exc}") from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeURL(f"cannot resolve {host}")
    return addresses


def webhook_target(url: str) -> Target:
    """Parse and resolve ``url``; in production refuse it unless every address is public."""
    scheme, host, port, path = _split(url)
    addresses = resolve(host, port)
    if settings.PRODUCTION:
        private = [a for a in addresses if not is_public(a)]
        if private:
            raise UnsafeURL(f"{host} resolves to a private or reserved address ({', '.join(private)})")
    return Target(scheme, host, port, path, addresses)


def webhook_url_check(url: str) -> None:
    """The check made when a subscription is saved: in production the URL must resolve to public
    addresses only; elsewhere only its form is checked (a local receiver need not be up yet)."""
    if settings.PRODUCTION:
        webhook_target(url)
    else:
        _split(url)


def outbound_url_validate(url: str) -> None:
    """``webhook_url_check`` for forms and services: a ``ValidationError`` saying why the URL cannot be
    used. Partner webhook subscriptions, listening feeds and alert webhooks all take their URLs through it."""
    try:
        webhook_url_check(url)
    except UnsafeURL as exc:
        raise ValidationError(f"This URL cannot be used: {exc}.") from None
