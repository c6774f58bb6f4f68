"""The partners' ingestion endpoint: ``POST /listening/ingest/<key>/`` with a batch of mentions.

Signed exactly like the partner API channel (``social.connectors.api``): ``X-SCRM-Timestamp: <unix seconds>``
and ``X-SCRM-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>``, five minutes' tolerance.

Body: ``{"mentions": [{"id", "text", "author": {"handle", "name"}, "url", "posted_at" (ISO 8601),
"reach": {"followers", "likes", "shares"}, "language"}]}``. Answer 200 with one result per item, in order:
``{"id", "status": "created" | "duplicate" | "blocked" | "invalid", "error"?}``; a bad item does not stop
the others. Checks, in order: size (413), key (404), signature (401 missing / 403 wrong), body shape (400),
batch length (413), database (503).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from social import conf as social_conf
from social.connectors.api import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_check
from social.connectors.base import SignatureInvalid, SignatureMissing
from social.crypto import CredentialsUnreadable
from social.listening import conf
from social.listening.classify import current_classifier
from social.listening.services import MentionInput, blocklist_load, mention_ingest
from social.models import PartnerSource

security_log = logging.getLogger("django.security.social")
logger = logging.getLogger(__name__)


class _Invalid(Exception):
    pass


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain")


def _signature_problem(request: HttpRequest, secret: str, body: bytes) -> tuple[int, str] | None:
    try:
        signature_check(
            secret=lambda: secret,
            body=body,
            given=request.headers.get(SIGNATURE_HEADER, ""),
            stamp=request.headers.get(TIMESTAMP_HEADER, ""),
        )
    except SignatureMissing:
        return 401, "signature required"
    except SignatureInvalid:
        return 403, "bad signature"
    return None


@csrf_exempt
@require_POST
def ingest(request: HttpRequest, key: str) -> HttpResponse:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > social_conf.WEBHOOK_MAX_BYTES:
        return _plain("body too large", 413)
    try:
        partner = PartnerSource.objects.filter(ingest_key=key, is_active=True).first()
        if partner is None:
            return _plain("unknown source", 404)
        try:
            body = request.body
        except RequestDataTooBig:
            return _plain("body too large", 413)
        if len(body) > social_conf.WEBHOOK_MAX_BYTES:
            return _plain("body too large", 413)
        problem = _signature_problem(request, partner.signing_secret, body)
        if problem is not None:
            security_log.warning(
                "listening ingest signature refused: partner=%s reason=%s remote=%s",
                partner.pk,
                problem[1],
                request.META.get("REMOTE_ADDR"),
            )
            return _plain(problem[1], problem[0])
        try:
            data = json.loads(body)  # bytes: UTF-8/16/32 are detected; anything else is refused
        except ValueError:
            return _plain("malformed body: not JSON (UTF-8)", 400)
        if not isinstance(data, dict) or not isinstance(data.get("mentions"), list):
            return _plain('malformed body: expected {"mentions": [...]}', 400)
        items = data["mentions"]
        if len(items) > conf.ingest_max_items():
            return _plain(f"too many mentions in one request (at most {conf.ingest_max_items()})", 413)
        classifier, blocklist = current_classifier(), blocklist_load()
        results = []
        for raw in items:
            try:
                item = _item(raw)
            except _Invalid as exc:
                given_id = raw.get("id") if isinstance(raw, dict) else None
                results.append({"id": given_id, "status": "invalid", "error": str(exc)})
                continue
            outcome = mention_ingest(item=item, partner=partner, classifier=classifier, blocklist=blocklist)
            results.append({"id": item.external_id, "status": outcome.status})
    except CredentialsUnreadable:
        logger.exception("listening ingest: partner secret cannot be decrypted (CHANNEL_SECRETS_KEY changed?)")
        return _plain("temporarily unavailable", 503)
    except DatabaseError:
        logger.exception("listening ingest: database unavailable")
        return _plain("temporarily unavailable", 503)
    return JsonResponse({"results": results})


def _item(raw: Any) -> MentionInput:
    if not isinstance(raw, dict):
        raise _Invalid("not an object")
    external_id = raw.get("id")
    if not isinstance(external_id, str | int) or isinstance(external_id, bool) or str(external_id).strip() == "":
        raise _Invalid("id missing")
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _Invalid("text missing")
    author = raw.get("author") or {}
    if not isinstance(author, dict):
        raise _Invalid("author must be an object")
    url = raw.get("url") or ""
    if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))):
        raise _Invalid("url must be an http(s) URL")
    reach = raw.get("reach") or {}
    if not isinstance(reach, dict):
        raise _Invalid("reach must be an object")
    language = raw.get("language") or ""
    if not isinstance(language, str):
        raise _Invalid("language must be a string")
    return MentionInput.build(
        external_id=str(external_id),
        text=text,
        author_handle=author.get("handle") if isinstance(author.get("handle"), str) else "",
        author_name=author.get("name") if isinstance(author.get("name"), str) else "",
        url=url,
        posted_at=_posted_at(raw.get("posted_at")),
        reach=reach,
        language=language,
    )


def _posted_at(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _Invalid("posted_at must be an ISO 8601 string")
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise _Invalid("posted_at is not an ISO 8601 date-time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
