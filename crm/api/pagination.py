"""Keyset ("cursor") pagination for sync: rows in a stable order by (a column, id), the position in a signed cursor.

Why not offsets: a row inserted or moved while a partner pages would shift every later page, repeating or
skipping records. Here the next page is "rows after the last one seen", so a record changed during the pull
moves behind the cursor and is delivered again later (once more, as changed), and nothing unchanged is repeated.

Why the settle horizon: ``updated_at`` is stamped when a row is saved, but another transaction sees it only at
commit. A row saved at 12:00:00.100 and committed at 12:00:00.900 would be invisible to a page read at
12:00:00.500 whose last row is from 12:00:00.400, and the cursor would then pass it for ever. Lists therefore
stop at ``now - API_SYNC_SETTLE_SECONDS``; rows younger than that are served by the next pull.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Field, Model, Q, QuerySet
from django.utils import timezone
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from crm.api.problems import Problem

CURSOR_SALT = "crm.api.cursor"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def invalid_cursor(detail: str) -> Problem:
    return Problem(400, "invalid_cursor", detail)


class SyncCursorPagination(BasePagination):
    """Views set ``sync_orderings`` (the columns a partner may order by, first one the default, e.g.
    ``("updated_at", "created_at")``; ``-`` sorts newest first) and ``settle_horizon`` (False to serve rows
    as they are, e.g. for the deletions feed, where the stamp and the commit are one statement)."""

    cursor_query_param = "cursor"
    limit_query_param = "limit"
    ordering_query_param = "ordering"

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any]:
        orderings: tuple[str, ...] = getattr(view, "sync_orderings", ("updated_at",))
        ordering = request.query_params.get(self.ordering_query_param) or orderings[0]
        allowed = {*orderings, *(f"-{o}" for o in orderings)}
        if ordering not in allowed:
            raise Problem(
                400, "invalid_ordering", f"ordering must be one of {', '.join(sorted(allowed))}; got {ordering!r}"
            )
        field, descending = ordering.lstrip("-"), ordering.startswith("-")
        self.limit = self._limit(request)
        if getattr(view, "settle_horizon", True):
            settle = dt.timedelta(seconds=settings.API_SYNC_SETTLE_SECONDS)
            queryset = (
                queryset.filter(**{f"{field}__lte": timezone.now() - settle}) if field.endswith("_at") else queryset
            )
        raw = request.query_params.get(self.cursor_query_param)
        self.position: tuple[Any, int] | None = self._decode(raw, ordering, queryset.model, field) if raw else None
        if self.position is not None:
            value, last_id = self.position
            # "(field, id) after the position", written so that PostgreSQL can start the index scan at the
            # position: the first condition bounds the (field, id) index range; the second only drops the rows
            # that share the position's time. The plain OR form ("field > v OR (field = v AND id > i)") is
            # applied as a filter instead, from the start of the index: page N then reads N pages' rows and
            # a full export of a million rows slows down page after page.
            if descending:
                after = Q(**{f"{field}__lte": value}) & (Q(**{f"{field}__lt": value}) | Q(id__lt=last_id))
            else:
                after = Q(**{f"{field}__gte": value}) & (Q(**{f"{field}__gt": value}) | Q(id__gt=last_id))
            queryset = queryset.filter(after)
        order = (f"-{field}", "-id") if descending else (field, "id")
        rows = list(queryset.order_by(*order)[: self.limit + 1])
        self.has_more = len(rows) > self.limit
        rows = rows[: self.limit]
        self.ordering, self.field, self.request = ordering, field, request
        if rows:
            self.position = (getattr(rows[-1], field), rows[-1].pk)
        return rows

    def get_paginated_response(self, data: Any) -> Response:
        cursor = self._encode() if self.position is not None else None
        next_url = None
        if self.has_more and cursor:
            next_url = replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)
        return Response({"next_cursor": cursor, "has_more": self.has_more, "next": next_url, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next_cursor", "has_more", "next", "results"],
            "properties": {
                "next_cursor": {
                    "type": "string",
                    "nullable": True,
                    "description": "Position after the last record: send it as ?cursor= to continue, now or in a "
                    "later pull (null only when nothing was ever listed).",
                },
                "has_more": {"type": "boolean", "description": "More records follow right now."},
                "next": {"type": "string", "format": "uri", "nullable": True},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        orderings: tuple[str, ...] = getattr(view, "sync_orderings", ("updated_at",))
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "The next_cursor of the previous page (opaque, signed).",
                "schema": {"type": "string"},
            },
            {
                "name": self.limit_query_param,
                "in": "query",
                "required": False,
                "description": f"Records per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
            {
                "name": self.ordering_query_param,
                "in": "query",
                "required": False,
                "description": f"Sort column, ties broken by id; - for descending. Default {orderings[0]}.",
                "schema": {"type": "string", "enum": [*orderings, *(f"-{o}" for o in orderings)]},
            },
        ]

    def _limit(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return DEFAULT_LIMIT
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise Problem(400, "invalid_limit", f"limit must be a whole number from 1 to {MAX_LIMIT}; got {raw!r}")
        return int(raw)

    def _encode(self) -> str:
        assert self.position is not None  # noqa: S101 - checked by the caller
        value, last_id = self.position
        text = value.isoformat() if isinstance(value, dt.datetime) else value
        return signing.dumps({"o": self.ordering, "v": text, "i": last_id}, salt=CURSOR_SALT, compress=True)

    def _decode(self, raw: str, ordering: str, model: type[Model], field: str) -> tuple[Any, int]:
        try:
            payload = signing.loads(raw, salt=CURSOR_SALT)
        except signing.BadSignature:
            raise invalid_cursor("The cursor is not one this API issued (altered or truncated).") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("i"), int):
            raise invalid_cursor("The cursor is not one this API issued.")
        if payload.get("o") != ordering:
            raise invalid_cursor(f"The cursor belongs to ordering {payload.get('o')!r}, not {ordering!r}.")
        try:
            value = cast("Field[Any, Any]", model._meta.get_field(field)).to_python(payload.get("v"))
        except (ValidationError, TypeError, ValueError):
            raise invalid_cursor("The cursor is not one this API issued.") from None
        return value, payload["i"]
