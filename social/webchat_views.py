"""The web chat widget's endpoints, ``/chat/<channel key>/…``, called cross-origin from the embedding site.

- ``POST session``: ``{"token"?}`` → ``{"token", "title", "welcome"}``; a missing or unreadable token starts a
  new visitor (nothing is stored until the visitor writes).
- ``POST messages``: ``Authorization: Bearer <token>``, ``{"id", "text", "name"?, "email"?}`` → 202 once the
  message is stored for the worker (a retry with the same ``id`` stores nothing new).
- ``GET messages?after=<cursor>``: ``Authorization: Bearer <token>`` → ``{"messages": [...], "cursor"}``.

Order of checks: channel (404), ``Origin`` in the channel's allowed origins (403, without CORS headers, so the
browser hides the answer from the page), then the preflight (``OPTIONS``), token (401 missing, 403 forged),
body (413, 400). Answers to an allowed origin carry ``Access-Control-Allow-Origin: <origin>``; errors are JSON
``{"error": "..."}``. No cookies are involved, so CSRF protection does not apply (the token is the credential).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt

from social import conf
from social.connectors.base import SignatureInvalid, SignatureMissing
from social.connectors.webchat import new_visitor_id, origin_allowed, visitor_from_token, visitor_token
from social.models import Channel
from social.services.channels import channel_for_webhook
from social.services.webchat import webchat_message_post, webchat_thread

security_log = logging.getLogger("django.security.social")
logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_TEXT_CHARS = 5000
MAX_NAME_CHARS = 100
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

Handler = Callable[[HttpRequest, Channel], HttpResponse]


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.retry_after = message, status, retry_after


def _error(message: str, status: int, retry_after: int | None = None) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _check_rate(request: HttpRequest, channel: Channel, visitor_id: str) -> None:
    """Refuse (429) a visitor, or a network address, posting faster than a person types.

    The channel key is public and a script can fake ``Origin``: without this, anyone could flood a channel
    with messages and new contacts. Counted per minute in the shared cache (database or Redis), as a sliding
    window: this minute's count plus the previous minute's, weighted by how much of it is still within the
    last sixty seconds (fixed windows would let a burst through twice around the turn of a minute).
    """
    per_visitor = conf.webchat_messages_per_minute()
    now = time.time()
    minute, offset = divmod(now, 60)
    earlier_share = 1 - offset / 60
    address = request.META.get("REMOTE_ADDR", "")
    limits = {
        f"webchat:{channel.pk}:visitor:{visitor_id}": per_visitor,
        f"webchat:{channel.pk}:address:{address}": per_visitor * 5,
    }
    earlier_counts = cache.get_many([f"{name}:{int(minute) - 1}" for name in limits])
    for name, limit in limits.items():
        key = f"{name}:{int(minute)}"
        cache.add(key, 0, timeout=120)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=120)
            count = 1
        earlier = earlier_counts.get(f"{name}:{int(minute) - 1}", 0)
        if count + earlier * earlier_share > limit:
            security_log.warning("web chat rate limit: channel=%s key=%s", channel.pk, name.split(":", 2)[2])
            raise BadRequest("too many messages; wait a moment", 429, retry_after=max(1, 60 - int(now % 60)))


def widget_endpoint(methods: tuple[str, ...]) -> Callable[[Handler], Callable[..., HttpResponse]]:
    """Channel lookup, origin check, CORS headers, preflight and error mapping around a widget handler."""

    def decorate(handler: Handler) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @functools.wraps(handler)
        def view(request: HttpRequest, key: str) -> HttpResponse:
            response = _dispatch(request, key, handler, methods)
            patch_vary_headers(response, ["Origin"])
            return response

        return view

    return decorate


def _dispatch(request: HttpRequest, key: str, handler: Handler, methods: tuple[str, ...]) -> HttpResponse:
    try:
        # The webhooks' per-process channel cache: a widget polls every second or two.
        channel = channel_for_webhook(key)
    except DatabaseError:
        logger.exception("web chat: database unavailable while looking up the channel")
        return _error("temporarily unavailable", 503)
    if channel is None or channel.kind != Channel.Kind.WEBCHAT:
        return _error("unknown chat", 404)
    origin = request.headers.get("Origin", "")
    if not origin_allowed(channel, origin):
        security_log.warning(
            "web chat origin refused: channel=%s origin=%r remote=%s",
            channel.pk,
            origin,
            request.META.get("REMOTE_ADDR"),
        )
        return _error("this site may not use the chat", 403)
    if request.method == "OPTIONS":
        response: HttpResponse = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = ", ".join((*methods, "OPTIONS"))
        response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response["Access-Control-Max-Age"] = "600"
    elif request.method not in methods:
        response = _error("method not allowed", 405)
    else:
        try:
            response = handler(request, channel)
        except BadRequest as exc:
            response = _error(exc.message, exc.status, exc.retry_after)
        except (SignatureMissing, SignatureInvalid) as exc:
            if isinstance(exc, SignatureInvalid):
                security_log.warning("web chat token refused: channel=%s reason=%s", channel.pk, exc)
            missing = isinstance(exc, SignatureMissing)
            response = _error("visitor token required" if missing else "bad visitor token", 401 if missing else 403)
        except DatabaseError:
            logger.exception("web chat: database unavailable")
            response = _error("temporarily unavailable", 503)
    response["Access-Control-Allow-Origin"] = origin
    return response


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise BadRequest("body too large", 413)
    try:
        body = request.body
    except RequestDataTooBig:
        raise BadRequest("body too large", 413) from None
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest("body too large", 413)
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequest("body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body is not a JSON object")
    return data


def _text_field(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{name}: expected text")
    if len(value) > limit:
        raise BadRequest(f"{name}: at most {limit} characters")
    if "\x00" in value:  # PostgreSQL cannot store it: refused now rather than failing in the worker
        raise BadRequest(f"{name}: contains a NUL character")
    return value.strip()


@widget_endpoint(("POST",))
def session(request: HttpRequest, channel: Channel) -> HttpResponse:
    data = _json_body(request)
    token = data.get("token") if isinstance(data.get("token"), str) else ""
    try:
        visitor_id = visitor_from_token(channel, str(token))
    except (SignatureMissing, SignatureInvalid):
        visitor_id = new_visitor_id()  # first visit, or a token from before a key change: start afresh
    return JsonResponse(
        {
            "token": visitor_token(channel, visitor_id),
            "title": channel.setting("title") or channel.name,
            "welcome": channel.setting("welcome"),
        }
    )


@widget_endpoint(("GET", "POST"))
def messages(request: HttpRequest, channel: Channel) -> HttpResponse:
    visitor_id = visitor_from_token(channel, _bearer(request))
    if request.method == "GET":
        after = request.GET.get("after", "0")
        if not after.isdigit() or len(after) > 18:
            raise BadRequest("after: expected a message number")
        thread = webchat_thread(channel=channel, visitor_id=visitor_id, after=int(after))
        return JsonResponse({"messages": thread.messages, "cursor": thread.cursor})

    _check_rate(request, channel, visitor_id)
    data = _json_body(request)
    message_id = data.get("id")
    if not isinstance(message_id, str) or not _CLIENT_ID.match(message_id):
        raise BadRequest("id: 8 to 64 letters, digits, - or _ (the widget makes one per message)")
    text = _text_field(data, "text", MAX_TEXT_CHARS)
    if not text:
        raise BadRequest("text: write a message")
    name = _text_field(data, "name", MAX_NAME_CHARS)
    email = _text_field(data, "email", 254).lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise BadRequest("email: enter a valid address, or leave it empty") from None
    _event_id, created = webchat_message_post(
        channel=channel, visitor_id=visitor_id, message_id=message_id, text=text, name=name, email=email
    )
    return JsonResponse({"id": message_id, "stored": True, "duplicate": not created}, status=202)


def demo_page(request: HttpRequest) -> HttpResponse:
    """A shop page embedding the first web chat channel that allows this origin (not in production mode)."""
    if settings.PRODUCTION:
        raise Http404("The web chat demo page is off in production mode.")
    origin = f"{request.scheme}://{request.get_host()}"
    channel = next(
        (c for c in Channel.objects.filter(kind=Channel.Kind.WEBCHAT, is_active=True) if origin_allowed(c, origin)),
        None,
    )
    script_url = request.build_absolute_uri(static("webchat/widget.js"))
    snippet = f'<script src="{script_url}" data-channel="{channel.webhook_key if channel else ""}" async></script>'
    return render(
        request,
        "social/webchat_demo.html",
        {"channel": channel, "origin": origin, "script_url": script_url, "snippet": snippet},
    )
