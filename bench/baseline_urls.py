"""The baseline endpoint of ``bench/webhook_ingest.py``: a bare Django view that inserts one row per request.

``POST /bench/hit/`` stores the raw body in ``bench_baseline_hit`` (created by the benchmark script) with
one ``INSERT`` in autocommit and answers ``{"ok": true}``, as the webhook does: the least any endpoint that
stores a delivery before acknowledging it can cost through the same middleware and server.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

TABLE = "bench_baseline_hit"


@csrf_exempt
@require_POST
def hit(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (body) VALUES (%s)", [request.body])
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/hit/", hit)]
