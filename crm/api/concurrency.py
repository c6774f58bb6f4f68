"""Optimistic concurrency: detail answers carry an ``ETag`` (the record's id and last change time); a write
sent with ``If-Match`` is refused with 412 when the record changed since (someone else wrote in between)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from crm.api.problems import Problem


def etag_for(record: Any) -> str:
    # Records that never change after creation (tags) have no updated_at.
    stamp = getattr(record, "updated_at", None) or record.created_at
    return f'"{record.pk}-{int(stamp.timestamp() * 1_000_000)}"'


def check_if_match(request: Request, record: Any) -> None:
    """Raise 412 when ``If-Match`` is sent and names no current version of ``record``.

    Call it with the row locked (``select_for_update``) so no write can slip in between check and change.
    """
    header = request.headers.get("If-Match")
    if header is None:
        return
    if record is None:
        raise Problem(412, "precondition_failed", "If-Match was sent but the record does not exist.")
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" in wanted or etag_for(record) in wanted:
        return
    raise Problem(
        412,
        "precondition_failed",
        "The record changed since you read it (If-Match does not match its ETag); read it again and retry.",
        current_etag=etag_for(record),
    )
