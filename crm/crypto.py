"""Fernet (AES-128-CBC + HMAC-SHA256) for secrets stored in the database: channel credentials, webhook secrets.

Each kind of secret has its own key variable; when it is empty the key is derived from ``SECRET_KEY`` with
HKDF and a per-purpose label, so a fresh checkout works. Rotating ``SECRET_KEY`` then makes the stored
secrets unreadable, which is why production sets the dedicated variables.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from config.env import ConfigError


def fernet_for(*, key: str, variable: str, purpose: bytes) -> Fernet:
    """The Fernet for ``key`` (the value of ``variable``), or for a key derived from SECRET_KEY and ``purpose``."""
    if key:
        try:
            return Fernet(key.encode())
        except ValueError:
            raise ConfigError(variable, "expected a Fernet key (44 characters of urlsafe base64)") from None
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(derived))
