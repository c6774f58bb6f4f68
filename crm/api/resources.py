"""A synced resource: list (cursor), retrieve (ETag), create, update (If-Match), soft delete, upsert by external
id, bulk upsert, and the deletions feed. A resource subclasses ``SyncResourceViewSet`` and names its model,
serializer, filter set and services."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Iterator
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from crm.api.base import PartnerViewSet
from crm.api.bulk_validation import record_validator
from crm.api.concurrency import check_if_match, etag_for
from crm.api.pagination import SyncCursorPagination
from crm.api.problems import Problem, flatten_errors
from crm.api.serializers import (
    BulkRequestSerializer,
    BulkResponseSerializer,
    ProblemSerializer,
    TombstoneSerializer,
)
from crm.models import User
from crm.services.records import record_soft_delete
from crm.services.tombstones import tombstone_horizon

BULK_LIMIT = 500
PROBLEM = OpenApiResponse(ProblemSerializer, description="application/problem+json (RFC 9457)")
IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="The ETag you read; 412 when it is stale"
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description="Retries with the same key and body get the first answer again for 24 hours",
)  # fmt: skip
PROBLEM_TYPE = "application/problem+json"


def problems(*codes: int) -> dict[Any, Any]:
    return {(code, PROBLEM_TYPE): PROBLEM for code in codes}


ERRORS = problems(400, 401, 403, 404, 406, 415, 429)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a bulk batch.

    A batch keeps tens of thousands of objects alive until it is answered (records, model instances, audit
    entries), and allocating them sets off a full collection about once a batch: it can free none of them but
    walks them and everything else the process holds, some 80 ms each, a fifth of the batch's time
    (bench/api_sync.py). Reference counting still frees what is not in a cycle; the first collection after
    the batch takes the rest. Process-wide, so another thread's cyclic garbage waits as long, a fraction of a
    second; only a collector this function stopped is restarted."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class SyncReadViewSet(PartnerViewSet):
    """Read side of a synced resource: the cursor list and the single record with its ETag."""

    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[Any]:
        return self.scope_model.objects.all()  # type: ignore[no-any-return]

    def with_etag(self, record: Model, *, status_code: int = 200) -> Response:
        """The record as stored now (read again: a write's answer shows what was saved) with its ETag."""
        return self.render(self.get_queryset().get(pk=record.pk), status_code=status_code)

    def render(self, record: Model, *, status_code: int = 200, etag: str | None = None) -> Response:
        """``record``, already read through ``get_queryset()``, with its ETag; no second read."""
        response = Response(self.get_serializer(record).data, status=status_code)
        response["ETag"] = etag or etag_for(record)
        return response

    def list(self, request: Request, **url_kwargs: Any) -> Response:
        # url_kwargs: a nested route's parent id (e.g. conversation_pk), already applied by get_queryset.
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str, **url_kwargs: Any) -> Response:
        record = self.get_object()
        etag = etag_for(record)
        if request.headers.get("If-None-Match") == etag:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return self.render(record, etag=etag)


class SyncUpsertViewSet(SyncReadViewSet):
    """A synced resource partners write by their own key: ``PUT by-external-id/<key>/`` and ``bulk/``.

    ``upsert_key`` is the column the key is stored in (``external_id``; a product's SKU, an order's number);
    ``upsert_service(external_id=…, data=…, actor=…, check=…)`` returns (record, created)."""

    upsert_key = "external_id"
    upsert_service: Any = None
    # Optional set-based batch upsert: ``bulk_service(items=[(external_id, data), …], actor=…)`` returns, per
    # item, (record, created) or the ValidationError that refused it (``crm.services.contact_bulk``).
    bulk_service: Any = None

    def validated(self, request: Request, *, partial: bool = False) -> dict[str, Any]:
        serializer = self.get_serializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data  # type: ignore[no-any-return]

    @action(detail=False, methods=["get", "put"], url_path=r"by-external-id/(?P<external_id>[^/]+)")
    def by_external_id(self, request: Request, external_id: str) -> Response:
        if "\x00" in external_id:  # PostgreSQL text cannot hold NUL: no record can have this key
            raise exceptions.NotFound("An external id cannot contain NUL characters.")
        if request.method == "GET":
            record = self.get_queryset().filter(**{self.upsert_key: external_id}).first()
            if record is None:
                raise exceptions.NotFound(f"No {self.scope_model._meta.verbose_name} with external id {external_id!r}.")
            return self.render(record)
        data = self.validated(request)
        if data.get(self.upsert_key, external_id) != external_id:
            raise exceptions.ValidationError({self.upsert_key: ["Differs from the key in the URL."]})
        record, created = self.upsert_service(
            external_id=external_id, data=data, actor=request.user, check=lambda locked: check_if_match(request, locked)
        )
        return self.with_etag(record, status_code=201 if created else 200)

    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request) -> Response:
        """Upsert up to 500 records by external id; each succeeds or fails on its own."""
        envelope = BulkRequestSerializer(data=request.data)
        records = request.data.get("records") if isinstance(request.data, dict) else None
        if isinstance(records, list) and len(records) > BULK_LIMIT:
            raise Problem(
                413, "batch_too_large", f"A batch holds at most {BULK_LIMIT} records; this one has {len(records)}.",
                limit=BULK_LIMIT,
            )  # fmt: skip
        envelope.is_valid(raise_exception=True)
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        with transaction.atomic():
            if self.bulk_service is not None:
                results = self._bulk_set(request, envelope.validated_data["records"])
            else:
                for index, item in enumerate(envelope.validated_data["records"]):
                    results.append(self._bulk_one(request, index, item, seen))
        counts = {s: sum(1 for r in results if r["status"] == s) for s in ("created", "updated", "error")}
        body = {
            "created": counts["created"],
            "updated": counts["updated"],
            "failed": counts["error"],
            "results": results,
        }
        return Response(body)

    def _bulk_key_error(self, index: int, item: dict[str, Any], seen: set[str]) -> dict[str, Any] | None:
        """The record's answer when its external id is missing or repeated in the batch, else None."""
        external_id = item.get(self.upsert_key)
        result: dict[str, Any] = {"index": index, "external_id": external_id}
        if not isinstance(external_id, str) or not external_id.strip():
            return {
                **result,
                "status": "error",
                "errors": [{"field": self.upsert_key, "message": "Required.", "code": "required"}],
            }
        if external_id in seen:
            message = "Listed twice in this batch."
            return {
                **result,
                "status": "error",
                "errors": [{"field": self.upsert_key, "message": message, "code": "duplicate"}],
            }
        seen.add(external_id)
        return None

    def _bulk_one(self, request: Request, index: int, item: dict[str, Any], seen: set[str]) -> dict[str, Any]:
        refused = self._bulk_key_error(index, item, seen)
        if refused is not None:
            return refused
        external_id = item[self.upsert_key]
        result: dict[str, Any] = {"index": index, "external_id": external_id}
        try:
            with transaction.atomic():  # a savepoint: a failing record leaves nothing behind
                serializer = self.get_serializer(data=item)
                serializer.is_valid(raise_exception=True)
                record, created = self.upsert_service(
                    external_id=external_id, data=serializer.validated_data, actor=request.user
                )
        except exceptions.ValidationError as exc:
            return {**result, "status": "error", "errors": flatten_errors(exc.detail)}
        except DjangoValidationError as exc:
            return {**result, "status": "error", "errors": flatten_errors(as_serializer_error(exc))}
        return {**result, "status": "created" if created else "updated", "id": record.pk}

    @_collector_paused()
    def _bulk_set(self, request: Request, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch through ``bulk_service`` (set-based, see ``crm.services.contact_bulk``): each record is
        validated by the serializer as on the single path, the valid ones are written together. Should the
        database refuse the batch (a concurrent request created one of its external ids meanwhile), the
        savepoint is rolled back and the records go through the per-record path instead."""
        results: list[dict[str, Any]] = []
        valid: list[tuple[int, str, dict[str, Any]]] = []
        seen: set[str] = set()
        # One serializer for the batch: building a nested serializer's fields costs more than validating a
        # record. run_validation() is what is_valid() runs, and raises the same errors; record_validator runs
        # the same fields' rules without the serializer's per-record walk, and leaves to the serializer every
        # record it does not accept as it is (crm.api.bulk_validation).
        serializer = self.get_serializer()
        fast = record_validator(serializer)
        for index, item in enumerate(records):
            refused = self._bulk_key_error(index, item, seen)
            if refused is None:
                try:
                    validated = fast(item)
                    if validated is None:
                        validated = serializer.run_validation(item)
                except exceptions.ValidationError as exc:
                    refused = {
                        "index": index, "external_id": item[self.upsert_key], "status": "error",
                        "errors": flatten_errors(exc.detail),
                    }  # fmt: skip
                else:
                    valid.append((index, item[self.upsert_key], validated))
            results.append(refused or {})
        try:
            with transaction.atomic():
                outcomes = self.bulk_service(items=[(key, data) for _, key, data in valid], actor=request.user)
        except IntegrityError:
            for index, _key, _data in valid:
                results[index] = self._bulk_one(request, index, records[index], set())
            return results
        for (index, key, _data), outcome in zip(valid, outcomes, strict=True):
            result: dict[str, Any] = {"index": index, "external_id": key}
            if isinstance(outcome, DjangoValidationError):
                results[index] = {**result, "status": "error", "errors": flatten_errors(as_serializer_error(outcome))}
            else:
                record, created = outcome
                results[index] = {**result, "status": "created" if created else "updated", "id": record.pk}
        return results


class SyncResourceViewSet(SyncUpsertViewSet):
    """A synced resource partners fully manage: also create, change, soft delete, and the deletions feed."""

    create_service: Any = None
    update_service: Any = None

    def create(self, request: Request) -> Response:
        data = self.validated(request)
        record = self.create_service(data=data, actor=request.user)
        response = self.with_etag(record, status_code=201)
        response["Location"] = request.build_absolute_uri(f"{request.path}{record.pk}/")
        return response

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        record = self.get_object()
        data = self.validated(request, partial=partial)
        with transaction.atomic():
            locked = self.scope_model.objects.select_for_update().get(pk=record.pk)
            check_if_match(request, locked)
            record = self.update_service(record=locked, data=data, actor=request.user)
        return self.with_etag(record)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        record = self.get_object()
        with transaction.atomic():
            locked = self.scope_model.objects.select_for_update().get(pk=record.pk)
            check_if_match(request, locked)
            record_soft_delete(record=locked, actor=cast(User, request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=False, methods=["get"], url_path="deletions")
    def deletions(self, request: Request) -> Response:
        horizon = tombstone_horizon()
        rows = self.scope_model.all_objects.filter(deleted_at__isnull=False, deleted_at__gte=horizon)
        return deletions_page(request, rows.only("id", "external_id", "deleted_at", "merged_into_id"), horizon)


def deletions_page(request: Request, rows: QuerySet[Any], horizon: dt.datetime) -> Response:
    """A page of a deletions feed: the tombstones among ``rows`` (those kept since ``horizon``) deleted at or
    after ``?since=`` (410 when that is older than the horizon), in the sync cursor order."""
    since_raw = request.query_params.get("since")
    if since_raw:
        since = _parse_since(since_raw)
        if since < horizon:
            raise Problem(
                410, "tombstones_expired",
                f"Deletions are kept for {settings.API_TOMBSTONE_RETENTION_DAYS} days; {since_raw} is older. "
                "Do a full sync (list without a cursor) instead.",
            )  # fmt: skip
        rows = rows.filter(deleted_at__gte=since)
    paginator = SyncCursorPagination()
    page = paginator.paginate_queryset(rows, request, _Deletions())
    return paginator.get_paginated_response(TombstoneSerializer(page, many=True).data)


class _Deletions:
    sync_orderings = ("deleted_at",)


def _parse_since(raw: str) -> dt.datetime:
    from django.utils.dateparse import parse_datetime

    try:
        value = parse_datetime(raw.replace(" ", "+"))
    except ValueError:
        value = None
    if value is None:
        raise exceptions.ValidationError({"since": ["Expected an ISO 8601 time, e.g. 2026-01-31T12:00:00Z."]})
    if timezone.is_naive(value):
        raise exceptions.ValidationError({"since": ["Give the time zone, e.g. 2026-01-31T12:00:00Z."]})
    try:
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that the parser accepts.
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise exceptions.ValidationError({"since": ["The time is out of range."]}) from None


# Schema documentation shared by every synced resource (applied per subclass with ``document_resource``).
def document_resource(viewset: type[SyncReadViewSet], noun: str, plural: str) -> None:
    """Describe the endpoints of ``viewset`` in the OpenAPI schema (headers, problem answers, bodies)."""
    serializer: Any = viewset.serializer_class
    write = {**ERRORS, **problems(412)}
    schemas = {
        "list": extend_schema(
            summary=f"List {plural} changed in (updated_at, id) order", responses={200: serializer(many=True), **ERRORS}
        ),
        "retrieve": extend_schema(
            summary=f"One {noun}, with its ETag", responses={200: serializer, 304: None, **ERRORS}
        ),
        "create": extend_schema(
            summary=f"Create a {noun}",
            parameters=[IDEMPOTENCY_KEY],
            responses={201: serializer, **problems(409), **problems(422), **ERRORS},
        ),
        "update": extend_schema(
            summary=f"Change a {noun}",
            parameters=[IF_MATCH, IDEMPOTENCY_KEY],
            responses={200: serializer, **problems(422), **write},
        ),
        "partial_update": extend_schema(
            summary=f"Change some fields of a {noun}",
            parameters=[IF_MATCH, IDEMPOTENCY_KEY],
            responses={200: serializer, **problems(422), **write},
        ),
        "destroy": extend_schema(
            summary=f"Delete a {noun} (it moves to the deletions feed)",
            parameters=[IF_MATCH],
            responses={204: None, **write},
        ),
        "by_external_id": extend_schema(
            summary=f"Read (GET) or create-or-update (PUT) a {noun} by external id",
            parameters=[IF_MATCH, IDEMPOTENCY_KEY],
            request=serializer,
            responses={200: serializer, 201: serializer, **problems(409), **problems(422), **write},
        ),
        "bulk": extend_schema(
            summary=f"Upsert up to {BULK_LIMIT} {plural} by external id",
            parameters=[IDEMPOTENCY_KEY],
            request=BulkRequestSerializer,
            responses={200: BulkResponseSerializer, **problems(413), **problems(422), **ERRORS},
        ),
        "deletions": extend_schema(
            summary=f"Deleted {plural} (tombstones) since a time, in (deleted_at, id) order",
            parameters=[
                OpenApiParameter(
                    "since", OpenApiTypes.DATETIME, description="Tombstones deleted at or after this time"
                ),
            ],
            filters=False,
            responses={200: TombstoneSerializer(many=True), **problems(410), **ERRORS},
        ),
    }
    extend_schema_view(**{name: schema for name, schema in schemas.items() if hasattr(viewset, name)})(viewset)
