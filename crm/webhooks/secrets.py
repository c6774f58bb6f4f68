"""Signing secrets are stored encrypted with Fernet (AES-128-CBC + HMAC-SHA256), like channel credentials.

The key is ``WEBHOOK_SECRETS_KEY`` when set, otherwise derived from ``SECRET_KEY`` with HKDF so a fresh
checkout works (rotating SECRET_KEY then makes stored secrets unreadable: production sets the key).
crm never imports social, so this mirrors ``social.crypto`` rather than using it.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from config.env import ConfigError

SECRET_PREFIX = "whsec_"  # noqa: S105 - a label, not a secret


class SecretUnreadable(Exception):
    """The secret was encrypted with another key."""


def _fernet() -> Fernet:
    key = settings.WEBHOOK_SECRETS_KEY
    if key:
        try:
            return Fernet(key.encode())
        except ValueError:
            raise ConfigError(
                "WEBHOOK_SECRETS_KEY", "expected a Fernet key (44 characters of urlsafe base64)"
            ) from None
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"scrm-webhook-secrets").derive(
        settings.SECRET_KEY.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


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
