"""The baseline endpoint of ``bench/webhook_ingest.py``: a bare Django view that inserts one row per request.

``POST /bench/hit/`` stores the raw body in ``bench_baseline_hit`` (created by the benchmark script) with
one ``INSERT`` in autocommit and answers ``{"ok": true}``, as the webhook does: the least any endpoint that
stores a delivery before acknowledging it can cost through the project's middleware and the same server.
With ``bench.baseline_bare_settings`` it is answered before most of that middleware, as the webhooks are.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from social.middleware import with_length

TABLE = getattr(settings, "BENCH_BASELINE_TABLE", "bench_baseline_hit")
PATH = "/bench/hit/"


@csrf_exempt
@require_POST
def hit(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (body) VALUES (%s)", [request.body])
    return JsonResponse({"ok": True})


urlpatterns = [path(PATH.strip("/") + "/", hit)]


class HitMiddleware:
    """``bench.baseline_bare_settings``: answers ``/bench/hit/`` where ``social.middleware.WebhookMiddleware``
    answers the webhooks, before the session, auth, CSRF and audit middleware (and checking the host as it
    does), so that the webhook can also be compared with a baseline that skips what it skips."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == PATH:
            request.get_host()
            return with_length(hit(request))
        return self.get_response(request)
