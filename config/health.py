"""``GET /healthz``: is the database reachable, and what is the task queue doing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _database_state() -> dict[str, Any]:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("healthz: database unreachable: %s", exc)
        return {"ok": False, "vendor": connection.vendor, "error": exc.__class__.__name__}
    return {"ok": True, "vendor": connection.vendor}


def _queue_state(database_ok: bool) -> dict[str, Any]:
    from django_q.brokers import get_broker
    from django_q.status import Stat

    broker_name = "redis" if settings.REDIS_URL else "orm"
    if broker_name == "orm" and not database_ok:
        return {"ok": False, "broker": broker_name, "error": "database unreachable"}
    try:
        broker = get_broker()
        ok = bool(broker.ping())
        queued = broker.queue_size()
        clusters = Stat.get_all(broker=broker)
    except Exception as exc:  # noqa: BLE001 - any broker failure is a state to report, not a crash
        logger.warning("healthz: task queue unreachable: %s", exc)
        return {"ok": False, "broker": broker_name, "error": exc.__class__.__name__}
    return {"ok": ok, "broker": broker_name, "queued": queued, "workers": sum(len(c.workers) for c in clusters)}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the database answers (the queue's state is reported alongside); 503 when it does not."""
    database = _database_state()
    queue = _queue_state(database["ok"])
    status = "ok" if database["ok"] and queue["ok"] else ("degraded" if database["ok"] else "down")
    return JsonResponse(
        {"status": status, "database": database, "task_queue": queue},
        status=200 if database["ok"] else 503,
    )


class HealthzMiddleware:
    """Answers ``/healthz`` before the session, auth and audit middleware run.

    Those read the session from the database as soon as a request carries a session cookie (a signed-in
    staff member's browser does), so with the database down they would turn the 503 into a 500 page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/healthz":
            request.get_host()  # still refuses a host outside ALLOWED_HOSTS, as CommonMiddleware would
            return healthz(request)
        return self.get_response(request)
