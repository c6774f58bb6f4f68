"""Partner API keys: created (the secret is returned once, only its hash is kept), revoked, and looked up."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import ApiKey, User

KEY_PREFIX = "scrm_"
# last_used_at is written at most this often per key: a busy key must not turn every request into a write
# on one hot row.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def hash_key(raw: str) -> str:
    # A fast hash is enough: the secret is 256 random bits, not a password that could be guessed.
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(
    *,
    name: str,
    user: User,
    scopes: list[str],
    expires_at: dt.datetime | None,
    created_by: User | None,
) -> tuple[ApiKey, str]:
    """Create a key; return it with the full secret, which is shown once and never stored."""
    prefix = KEY_PREFIX + secrets.token_hex(4)
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name,
        user=user,
        prefix=prefix,
        key_hash=hash_key(raw),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        created_by=created_by,
    )
    return key, raw


def api_key_revoke(*, key: ApiKey) -> bool:
    """Revoke ``key`` at once (its next request gets 401); returns False when it was already revoked."""
    with transaction.atomic():
        changed = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return bool(changed)


def api_key_lookup(raw: str) -> ApiKey | None:
    """The key whose secret is ``raw`` (active or not: the caller says why it is refused), or None."""
    if not raw.startswith(KEY_PREFIX):
        return None
    return ApiKey.objects.select_related("user").filter(key_hash=hash_key(raw)).first()


def api_key_touch(*, key: ApiKey) -> None:
    """Record that ``key`` was used now, unless that was already recorded less than a minute ago."""
    now = timezone.now()
    stale = now - LAST_USED_RESOLUTION
    if key.last_used_at is not None and key.last_used_at > stale:
        return
    # Conditional update: concurrent requests of one key write the row once, not once each.
    ApiKey.objects.filter(pk=key.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)).update(
        last_used_at=now
    )
    key.last_used_at = now


def api_key_update(*, key: ApiKey, name: str, scopes: list[str], expires_at: dt.datetime | None) -> ApiKey:
    """Rename a key or change its scopes or expiry (the secret never changes: issue a new key instead)."""
    key.name, key.scopes, key.expires_at = name, sorted(set(scopes)), expires_at
    key.save(update_fields=["name", "scopes", "expires_at"])
    return key
