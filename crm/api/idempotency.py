"""``Idempotency-Key`` on POST, PUT and PATCH: the first answer is stored and replayed to a retry.

1. Before the view runs, a row (owner, key) is inserted with the request's fingerprint and no status. The
   unique constraint makes this the race guard: a concurrent request with the same key fails to insert.
2. A later request with that key: same fingerprint and an answer stored -> the stored answer again (with
   ``Idempotent-Replayed: true``); different fingerprint -> 422; no answer yet -> 409 (still processing).
3. After the view: answers below 500 are stored; after a server error the row is removed so a retry runs.
Records older than ``IDEMPOTENCY_TTL`` no longer count and are replaced.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.problems import Problem
from crm.models import ApiKey, IdempotencyRecord

HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL = dt.timedelta(hours=24)
METHODS = {"POST", "PUT", "PATCH"}
REPLAYED_HEADERS = ("ETag", "Location")


class Replay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def owner_of(request: Request) -> str:
    return f"key:{request.auth.pk}" if isinstance(request.auth, ApiKey) else f"user:{request.user.pk}"


def fingerprint(request: Request) -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request._request.body)
    return digest.hexdigest()


def idempotency_begin(request: Request) -> IdempotencyRecord | None:
    """Claim the request's key (None without one); raises ``Replay`` or a problem when the key was used."""
    key = request.headers.get(HEADER)
    if key is None or request.method not in METHODS:
        return None
    key = key.strip()
    if not key or len(key) > 255:
        raise Problem(400, "invalid_idempotency_key", f"{HEADER} must be 1 to 255 characters.")
    owner, print_ = owner_of(request), fingerprint(request)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(owner=owner, key=key, fingerprint=print_)
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
        if existing is None:
            continue  # removed a moment ago (server error or expiry): claim it again
        if existing.created_at < timezone.now() - IDEMPOTENCY_TTL:
            IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.fingerprint != print_:
            raise Problem(
                422,
                "idempotency_key_reused",
                f"{HEADER} {key!r} was used for a different request (method, path or body); use a new key.",
            )
        if existing.status is None:
            raise Problem(409, "idempotency_in_progress", f"A request with {HEADER} {key!r} is still being processed.")
        stored = Response(existing.body, status=existing.status, headers={**existing.headers})
        stored["Idempotent-Replayed"] = "true"
        if existing.status >= 400:
            stored.content_type = "application/problem+json"
        raise Replay(stored)
    raise Problem(409, "idempotency_in_progress", f"A request with {HEADER} {key!r} is being processed.")


def idempotency_finish(record: IdempotencyRecord, response: Response) -> None:
    if response.status_code >= 500:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    body: Any = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
    headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
    IdempotencyRecord.objects.filter(pk=record.pk).update(status=response.status_code, body=body, headers=headers)
