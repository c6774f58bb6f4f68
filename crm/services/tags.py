from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from crm.models import Tag


def parse_tag_names(text: str) -> list[str]:
    """``"vip, newsletter ,"`` -> ``["vip", "newsletter"]`` (order kept, duplicates dropped, case-insensitive)."""
    seen: dict[str, str] = {}
    for raw in text.split(","):
        name = " ".join(raw.split())
        if name and name.lower() not in seen:
            seen[name.lower()] = name[:64]
    return list(seen.values())


def tags_get_or_create(*, names: Iterable[str]) -> list[Tag]:
    """Existing tags matched case-insensitively; missing ones created (safe when two requests race)."""
    result = []
    for name in names:
        tag = Tag.objects.filter(name__iexact=name).first()
        if tag is None:
            try:
                with transaction.atomic():
                    tag = Tag.objects.create(name=name)
            except IntegrityError:  # created by a concurrent request a moment ago
                tag = Tag.objects.get(name__iexact=name)
        result.append(tag)
    return result
