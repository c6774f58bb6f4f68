"""Every API error as ``application/problem+json`` (RFC 9457): ``type``, ``title``, ``status``, ``detail``,
and for validation errors ``errors``: one ``{"field": "emails.0.email", "message": …, "code": …}`` per problem."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "urn:scrm:problem:"


class Problem(exceptions.APIException):
    """An API error with its own problem type, e.g. ``Problem(412, "precondition_failed", "…")``."""

    def __init__(self, status_code: int, code: str, detail: str, **extra: Any) -> None:
        self.status_code = status_code
        self.extra = extra
        super().__init__(detail, code)


def problem_response(status_code: int, code: str, detail: Any, **extra: Any) -> Response:
    body = {
        "type": TYPE_BASE + code,
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": str(detail),
        **extra,
    }
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def flatten_errors(detail: Any, path: str = "") -> list[dict[str, str]]:
    """DRF's nested error detail as a flat list; ``non_field_errors`` become the record itself (``field: ""``)."""
    if isinstance(detail, dict):
        items: list[dict[str, str]] = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            items += flatten_errors(value, f"{path}.{name}" if path and name else path or name)
        return items
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [
                {"field": path, "message": str(item), "code": getattr(item, "code", "invalid") or "invalid"}
                for item in detail
            ]
        items = []
        for index, value in enumerate(detail):
            if value:
                items += flatten_errors(value, f"{path}.{index}" if path else str(index))
        return items
    return [{"field": path, "message": str(detail), "code": getattr(detail, "code", "invalid") or "invalid"}]


def validation_problem(detail: Any) -> Response:
    errors = flatten_errors(detail)
    noun = "problem" if len(errors) == 1 else "problems"
    summary = "; ".join(f"{e['field'] or 'record'}: {e['message']}" for e in errors[:3])
    return problem_response(400, "validation_error", f"{len(errors)} {noun}: {summary}", errors=errors)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: DRF's handling (headers like Retry-After and WWW-Authenticate
    included), with the body rewritten as a problem. Django's ``ValidationError`` from a service is a 400."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, RequestDataTooBig):
        exc = Problem(413, "request_too_large", "The request body is larger than the server accepts.")
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        problem = validation_problem(exc.detail)
    elif isinstance(exc, Problem):
        problem = problem_response(exc.status_code, str(exc.get_codes()), exc.detail, **exc.extra)
    else:
        assert isinstance(exc, exceptions.APIException)  # noqa: S101 - exception_handler answers no other kind
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        detail = exc.detail if isinstance(exc.detail, str) else response.data
        problem = problem_response(response.status_code, str(code), detail)
    for name, value in response.items():
        if name.lower() != "content-type":
            problem[name] = value
    return problem
