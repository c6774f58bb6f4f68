"""Knobs of the social app, read from the environment through ``config.env.Env``.

Each value may also be set as a Django setting of the same name (tests shrink the retry delays that way);
the setting wins over the environment. README documents every variable.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from config.env import Env

_env = Env()

# Bodies above this are refused with 413 before anything is parsed or stored (providers send far less).
# A connector whose provider sends more (e-mail with attachments) sets its own ``max_body_bytes``.
WEBHOOK_MAX_BYTES = 1024 * 1024


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def channel_secrets_key() -> str:
    """A Fernet key (urlsafe base64 of 32 bytes) or "" to derive one from SECRET_KEY."""
    return str(_setting("CHANNEL_SECRETS_KEY", _env.text("CHANNEL_SECRETS_KEY")))


def public_url() -> str:
    """The site's public base URL (https://crm.example.com), used for the webhook URLs shown in the admin."""
    return str(_setting("SOCIAL_PUBLIC_URL", _env.text("SOCIAL_PUBLIC_URL"))).rstrip("/")


def trust_forwarded_headers() -> bool:
    """Rebuild the URL a provider signed (Twilio) from X-Forwarded-Proto/-Host: only behind a proxy that sets them."""
    return bool(_setting("SOCIAL_TRUST_FORWARDED_HEADERS", _env.flag("SOCIAL_TRUST_FORWARDED_HEADERS", False)))


def http_timeout() -> float:
    """Seconds an outbound provider call may take (connect and read)."""
    return float(_setting("SOCIAL_HTTP_TIMEOUT", _env.integer("SOCIAL_HTTP_TIMEOUT", 10, minimum=1)))


def send_max_attempts() -> int:
    """Attempts at delivering one outbound message before it ends in failed."""
    return int(_setting("SOCIAL_SEND_MAX_ATTEMPTS", _env.integer("SOCIAL_SEND_MAX_ATTEMPTS", 6, minimum=1)))


def send_backoff_seconds() -> float:
    """First retry delay; each further retry doubles it (30 s, 60 s, 120 s, … by default)."""
    return float(_setting("SOCIAL_SEND_BACKOFF_SECONDS", _env.integer("SOCIAL_SEND_BACKOFF_SECONDS", 30, minimum=0)))


def event_stale_seconds() -> int:
    """A pending inbound event untouched this long is handed to the queue again (its worker died)."""
    return int(_setting("SOCIAL_EVENT_STALE_SECONDS", _env.integer("SOCIAL_EVENT_STALE_SECONDS", 300, minimum=1)))


def event_max_attempts() -> int:
    """Processing attempts for one inbound event before it is marked failed for staff to look at."""
    return int(_setting("SOCIAL_EVENT_MAX_ATTEMPTS", _env.integer("SOCIAL_EVENT_MAX_ATTEMPTS", 5, minimum=1)))


def event_retention_days() -> int:
    """Processed and ignored inbound events older than this are deleted daily; pending and failed ones never."""
    return int(_setting("SOCIAL_EVENT_RETENTION_DAYS", _env.integer("SOCIAL_EVENT_RETENTION_DAYS", 30, minimum=1)))


def webchat_messages_per_minute() -> int:
    """Messages one web chat visitor may post per minute; one network address may post five times that."""
    return int(_setting("WEBCHAT_MESSAGES_PER_MINUTE", _env.integer("WEBCHAT_MESSAGES_PER_MINUTE", 20, minimum=1)))


def drain_batch() -> int:
    """Inbound events one drain claims and stores together (one transaction, set-based writes)."""
    return int(_setting("SOCIAL_DRAIN_BATCH", _env.integer("SOCIAL_DRAIN_BATCH", 100, minimum=1)))


def drain_seconds() -> int:
    """How long one drain task keeps claiming batches before it hands over to a new task (below Q_TIMEOUT)."""
    return int(_setting("SOCIAL_DRAIN_SECONDS", _env.integer("SOCIAL_DRAIN_SECONDS", 30, minimum=1)))


def channel_cache_seconds() -> float:
    """Seconds a web process keeps a webhook's channel (and its decrypted credentials) in memory; 0: none."""
    return float(_setting("SOCIAL_CHANNEL_CACHE_SECONDS", _env.integer("SOCIAL_CHANNEL_CACHE_SECONDS", 5, minimum=0)))


def drain_grace_seconds() -> float:
    """A web process that saw a drain requested this recently does not ask again; a drain makes its last claim
    this long after it started (``social.services.queue``). The same value for web servers and workers."""
    return float(_setting("SOCIAL_DRAIN_GRACE_MS", _env.integer("SOCIAL_DRAIN_GRACE_MS", 200, minimum=0))) / 1000
