from __future__ import annotations

from collections.abc import Iterable

from django.db import models


def save_fields(obj: models.Model, fields: Iterable[str]) -> None:
    """Save only ``fields`` of an existing row, plus ``updated_at`` so partners' sync sees the change."""
    names = set(fields)
    if any(f.name == "updated_at" for f in obj._meta.concrete_fields):
        names.add("updated_at")
    obj.save(update_fields=sorted(names))
