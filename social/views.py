"""The webhook endpoint: one URL per channel, ``/webhooks/<channel key>/``.

Order of checks, each answered without touching later steps: size (413), channel (404), handshake (GET),
signature on the raw body (401 missing / 403 wrong, logged to ``django.security.social``), body shape
(400), then the durable insert of the raw event (503 when the database is unavailable, so the provider
retries). The answer goes out as soon as the event is committed; processing happens in a task.

``social.middleware.WebhookMiddleware`` calls this view before the session, auth, CSRF and audit middleware,
which have nothing to do for a provider's POST; the body is parsed once (``Connector.parse``: the delivery's
id and its events), and the headers are read straight from the WSGI environ.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from social import conf
from social.connectors import CONNECTORS, connector_for
from social.connectors.base import MalformedPayload, SignatureInvalid, SignatureMissing, WebhookRequest
from social.crypto import CredentialsUnreadable
from social.services.channels import channel_for_webhook
from social.services.inbound import inbound_event_store

MAX_ANY_BODY = max(connector.max_body_bytes for connector in CONNECTORS.values())
security_log = logging.getLogger("django.security.social")
logger = logging.getLogger(__name__)


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain")


def signed_url(request: HttpRequest) -> str:
    """The URL the provider called, as it signed it (Twilio signs the public URL, before any proxy)."""
    if conf.trust_forwarded_headers():
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        if proto and host:
            return f"{proto}://{host}{request.get_full_path()}"
    return request.build_absolute_uri()


def webhook_headers(meta: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers by lower-cased name, read from the WSGI environ in one pass (what
    ``request.headers`` holds, without building its case-insensitive mapping first)."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in meta.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):  # the two headers WSGI passes without the HTTP_ prefix
        if key in meta:
            headers[key.replace("_", "-").lower()] = meta[key]
    return headers


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, key: str) -> HttpResponse:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_ANY_BODY:
        return _plain("body too large", 413)  # larger than any provider sends: not even a channel look-up
    try:
        channel = channel_for_webhook(key)
    except DatabaseError:
        logger.exception("webhook: database unavailable while looking up the channel")
        return _plain("temporarily unavailable", 503)
    connector = connector_for(channel.kind) if channel is not None else None
    if channel is None or connector is None:
        return _plain("unknown channel", 404)

    try:
        if request.method == "GET":
            return connector.handshake(channel, request) or _plain("method not allowed", 405)
        limit = connector.max_body_bytes
        if declared > limit:
            return _plain("body too large", 413)
        # Read the stream ourselves, bounded by the connector's limit: ``request.body`` would apply
        # DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), which is right for forms but too small for e-mail.
        body = request.read(limit + 1)
        if len(body) > limit:
            return _plain("body too large", 413)
        hook = WebhookRequest(
            body=body,
            headers=webhook_headers(request.META),
            query=request.GET.dict() if request.META.get("QUERY_STRING") else {},
            url=signed_url(request) if connector.signs_url else "",
            method="POST",
        )
        try:
            connector.verify(channel, hook)
        except (SignatureMissing, SignatureInvalid) as exc:
            security_log.warning(
                "webhook signature refused: channel=%s kind=%s reason=%s remote=%s",
                channel.pk,
                channel.kind,
                exc,
                request.META.get("REMOTE_ADDR"),
            )
            return _plain(
                "signature required" if isinstance(exc, SignatureMissing) else "bad signature",
                401 if isinstance(exc, SignatureMissing) else 403,
            )
        try:
            delivery = connector.parse(channel, hook)  # refuse unreadable bodies now, while the provider can see it
        except MalformedPayload as exc:
            return _plain(f"malformed body: {exc}", 400)
        inbound_event_store(channel=channel, request=hook, provider_event_id=delivery.event_id)
    except CredentialsUnreadable:
        logger.exception(
            "webhook: channel %s credentials cannot be decrypted (CHANNEL_SECRETS_KEY changed?)", channel.pk
        )
        return _plain("temporarily unavailable", 503)
    except DatabaseError:
        logger.exception("webhook: database unavailable, delivery not stored")
        return _plain("temporarily unavailable", 503)
    return connector.ack()
