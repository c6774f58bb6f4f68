"""Request parsing and OPTIONS answers shared by every partner endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.metadata import SimpleMetadata
from rest_framework.parsers import JSONParser
from rest_framework.request import Request


def contains_nul(data: Any) -> bool:
    """True when a string anywhere in ``data`` (keys included) holds a NUL character."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class PartnerJSONParser(JSONParser):
    """JSON, refusing NUL characters (``\\u0000``) with a 400: PostgreSQL stores them neither in text nor in
    jsonb columns, so letting one through would fail at the database, after validation said yes."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if contains_nul(data):
            raise ParseError("JSON parse error - text may not contain NUL (\\u0000) characters.")
        return data


class PartnerMetadata(SimpleMetadata):
    """OPTIONS names the view and its formats. Not the fields per method, as DRF's default does: that would
    run the view's object lookup outside its URL (a server error on by-external-id); /api/schema/ has them."""

    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        metadata: dict[str, Any] = super().determine_metadata(request, view)
        metadata.pop("actions", None)
        return metadata

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}
