"""Signing secrets are stored encrypted with Fernet (AES-128-CBC + HMAC-SHA256), like channel credentials.

The key is ``WEBHOOK_SECRETS_KEY`` when set, otherwise derived from ``SECRET_KEY`` with HKDF so a fresh
checkout works (rotating SECRET_KEY then makes stored secrets unreadable: production sets the key).
The Fernet itself comes from ``crm.crypto``, shared with the channel credentials.
"""

from __future__ import annotations

import secrets

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from crm.crypto import fernet_for

SECRET_PREFIX = "whsec_"  # noqa: S105 - a label, not a secret


class SecretUnreadable(Exception):
    """The secret was encrypted with another key."""


def _fernet() -> Fernet:
    return fernet_for(key=settings.WEBHOOK_SECRETS_KEY, variable="WEBHOOK_SECRETS_KEY", purpose=b"scrm-webhook-secrets")


def secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("the signing secret cannot be decrypted with the current key") from None


def secret_mask(secret: str) -> str:
    """``whsec_••••Ab3x``: enough to tell two secrets apart, never enough to use one."""
    return f"{SECRET_PREFIX}••••{secret[-4:]}" if secret else ""
