"""Knobs of social listening, read from the environment (a Django setting of the same name wins, for tests).

README documents each variable: ``LISTENING_INGEST_MAX_ITEMS``, ``LISTENING_FEED_TIMEOUT``.
"""

from __future__ import annotations

from django.conf import settings

from config.env import Env

_env = Env()

# Read when the module is imported (the admin imports it during start-up), so a bad value stops start-up
# with the variable's name instead of failing on the first poll or request.
_INGEST_MAX_ITEMS = _env.integer("LISTENING_INGEST_MAX_ITEMS", 100, minimum=1)
_FEED_TIMEOUT = _env.integer("LISTENING_FEED_TIMEOUT", 15, minimum=1)

# A feed document above this is refused (recorded as the feed's error) instead of being parsed.
FEED_MAX_BYTES = 5 * 1024 * 1024
# Redirects one poll follows (each new URL is checked by the address policy like the first).
FEED_MAX_REDIRECTS = 5
# A claimed feed whose poll never reported back (worker died) is due again after this.
FEED_CLAIM_MINUTES = 10
# The sweep enqueues at most this many feeds per minute; the rest wait for the next sweep.
FEED_SWEEP_LIMIT = 500


def ingest_max_items() -> int:
    """Mentions one partner request may carry (more: 413)."""
    return int(getattr(settings, "LISTENING_INGEST_MAX_ITEMS", _INGEST_MAX_ITEMS))


def feed_timeout() -> float:
    """Seconds a feed request may take (connect and read)."""
    return float(getattr(settings, "LISTENING_FEED_TIMEOUT", _FEED_TIMEOUT))
