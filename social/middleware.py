"""``/webhooks/<key>/`` is answered before the session, authentication, messages, CSRF and audit middleware.

A provider's POST carries no session cookie, no user and no CSRF token (the view is CSRF-exempt and checks
the provider's signature instead), and the webhook writes no audited row: its raw event goes in with one
INSERT. That middleware would find nothing to do on the busiest URL of the site, and cost it about a fifth of
its CPU time: ``AuditlogMiddleware`` alone connects and disconnects a ``pre_save`` receiver on every request
(``bench/webhook_cpu.py``). Security and WhiteNoise run before this, as for every request, and the host is
still checked against ``ALLOWED_HOSTS`` (CommonMiddleware's job on other URLs). Any other path, and any
path that is not exactly ``/webhooks/<key>/`` (the route in ``social.urls``), takes the usual way.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from social.urls import WEBHOOK_PREFIX
from social.views import webhook

_PATH_PREFIX = "/" + WEBHOOK_PREFIX


class WebhookMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(_PATH_PREFIX) and path.endswith("/"):
            key = path[len(_PATH_PREFIX) : -1]
            if key and "/" not in key:  # what the route's <str:key> matches
                request.get_host()  # refuses a host outside ALLOWED_HOSTS, as CommonMiddleware would
                return with_length(webhook(request, key))
        return self.get_response(request)


def with_length(response: HttpResponse) -> HttpResponse:
    """Set ``Content-Length`` as CommonMiddleware does (without it the server answers in chunks)."""
    if not response.streaming and not response.has_header("Content-Length"):
        response.headers["Content-Length"] = str(len(response.content))
    return response
