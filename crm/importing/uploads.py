"""Uploaded files kept between the admin's import preview and its confirmation.

A file is stored as ``VAR_DIR/imports/<token>`` where the token is ``secrets.token_urlsafe`` (random, 43
characters of ``[A-Za-z0-9_-]``). The admin records the token in the uploader's session, so a confirmation
can only name that user's own upload; the token is also checked against its pattern and the resolved path
against the folder, so no request can reach another path. Files are removed on confirmation and any left
behind (previews never confirmed) are pruned after a day, whenever a new upload is stored.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from django.conf import settings

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_AGE_SECONDS = 24 * 3600


def upload_dir() -> Path:
    return Path(settings.VAR_DIR) / "imports"


def _path(token: str) -> Path | None:
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    folder = upload_dir().resolve()
    path = (folder / token).resolve()
    return path if path.parent == folder else None


def upload_store(data: bytes) -> str:
    """Keep ``data``; return the token that finds it again."""
    folder = upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    uploads_prune()
    token = secrets.token_urlsafe(32)
    path = _path(token)
    assert path is not None  # noqa: S101 - token_urlsafe(32) always matches the pattern
    path.write_bytes(data)
    path.chmod(0o600)
    return token


def upload_read(token: str) -> bytes | None:
    path = _path(token)
    if path is None or not path.is_file():
        return None
    return path.read_bytes()


def upload_delete(token: str) -> None:
    path = _path(token)
    if path is not None:
        path.unlink(missing_ok=True)


def uploads_prune(max_age: float = MAX_AGE_SECONDS) -> None:
    cutoff = time.time() - max_age
    for path in upload_dir().glob("*"):
        if TOKEN_PATTERN.fullmatch(path.name) and path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
