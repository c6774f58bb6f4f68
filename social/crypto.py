"""Channel credentials are encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key is ``CHANNEL_SECRETS_KEY`` when set (``python -c "from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())"``), otherwise derived from ``SECRET_KEY`` with HKDF so that a fresh
checkout works. Rotating SECRET_KEY without CHANNEL_SECRETS_KEY makes stored credentials unreadable, which
is why production should set the dedicated key.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken

from crm.crypto import fernet_for
from social import conf


class CredentialsUnreadable(Exception):
    """The stored credentials were encrypted with another key."""


def _fernet() -> Fernet:
    return fernet_for(
        key=conf.channel_secrets_key(), variable="CHANNEL_SECRETS_KEY", purpose=b"scrm-channel-credentials"
    )


def encrypt_json(values: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        data = json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadable("channel credentials cannot be decrypted with the current key") from None
    return {str(k): str(v) for k, v in data.items()}


def mask(secret: str) -> str:
    """``••••1234``: enough for staff to tell two secrets apart, never enough to use one."""
    if not secret:
        return ""
    return "••••" + (secret[-4:] if len(secret) >= 12 else "")
