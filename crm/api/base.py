"""The base every partner API view builds on: authentication, scopes, rate-limit headers, the audit actor,
idempotency and problem answers, in one place so each resource's view stays a few declarations."""

from __future__ import annotations

import contextlib
from typing import Any

from auditlog.context import auditlog_value, set_actor
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
    renderer_classes,
    throttle_classes,
)
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api import origin
from crm.api.authentication import ApiKeyAuthentication, StaffSessionAuthentication
from crm.api.idempotency import Replay, idempotency_begin, idempotency_finish
from crm.api.pagination import SyncCursorPagination
from crm.api.parsers import PartnerJSONParser, PartnerMetadata
from crm.api.permissions import HasResourceScope
from crm.api.throttling import ApiKeyRateThrottle, rate_limit_headers
from crm.models import ApiKey, IdempotencyRecord


class PartnerAPIMixin:
    """Mix into a DRF view or viewset (before it). Changes made inside the request are audited with the key's
    user (or the staff member) as actor, and the key as origin (``crm.api.origin``)."""

    authentication_classes = [ApiKeyAuthentication, StaffSessionAuthentication]
    permission_classes = [HasResourceScope]
    throttle_classes = [ApiKeyRateThrottle]
    pagination_class = SyncCursorPagination
    renderer_classes = [JSONRenderer]
    parser_classes = [PartnerJSONParser]
    metadata_class = PartnerMetadata

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._scrm_exit = contextlib.ExitStack()
        if request.user and request.user.is_authenticated:
            # auditlog's set_actor replaces the middleware's context (set_extra_data) without restoring it: the
            # middleware's exit then disconnects set_actor's receiver a second time and leaves its own
            # connected, one more LogEntry pre_save receiver per request for the life of the process, each
            # run on every later log entry. Restored here once set_actor has exited (the stack runs backwards).
            self._scrm_exit.callback(auditlog_value.reset, auditlog_value.set(auditlog_value.get(None)))
            self._scrm_exit.enter_context(set_actor(request.user, remote_addr=request.META.get("REMOTE_ADDR")))
        if isinstance(request.auth, ApiKey):
            self._scrm_exit.callback(origin.leave, origin.enter(request.auth))
        self._scrm_idempotency = idempotency_begin(request)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Replay):
            return exc.response
        try:
            return super().handle_exception(exc)  # type: ignore[misc, no-any-return]
        except Exception:
            # A server error: finalize_response will not run, so release what initial() took here: the
            # idempotency claim (a retry must run again) and the audit actor.
            record = getattr(self, "_scrm_idempotency", None)
            if record is not None:
                IdempotencyRecord.objects.filter(pk=record.pk).delete()
            exit_stack = getattr(self, "_scrm_exit", None)
            if exit_stack is not None:
                exit_stack.close()
            raise

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Any:
        record = getattr(self, "_scrm_idempotency", None)
        if record is not None:
            self._scrm_idempotency = None
            idempotency_finish(record, response)
        exit_stack = getattr(self, "_scrm_exit", None)
        if exit_stack is not None:
            exit_stack.close()
        for name, value in rate_limit_headers(request).items():
            response[name] = value
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


class PartnerViewSet(PartnerAPIMixin, viewsets.GenericViewSet):  # type: ignore[type-arg, misc]
    """Base of a resource's viewset: set ``scope_resource``, ``scope_model``, ``queryset``, ``serializer_class``."""

    scope_resource = ""
    scope_model: Any = None
    sync_orderings: tuple[str, ...] = ("updated_at", "created_at")


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
@renderer_classes([JSONRenderer])
def api_not_found(request: HttpRequest, path: str = "") -> Response:
    """Unknown paths under /api/ answer a 404 problem rather than the site's HTML page."""
    hint = "" if request.path.endswith("/") else " (API paths end with a slash)"
    raise NotFound(f"No API endpoint at {request.path}{hint}.")
