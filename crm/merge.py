"""Hooks for rows other apps attach to contacts and companies, used when records are merged.

By default a merge re-points every foreign key to the merged record onto the survivor, whichever app
owns it, so new apps are covered without ``crm`` knowing them. A model whose rows cannot simply be
re-pointed (a uniqueness rule per contact, say "one open conversation per contact and channel") registers
a handler in its ``AppConfig.ready``; the handler runs inside the merge transaction and must leave no row
pointing at ``source``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MergeHandler = Callable[[Any, Any], int]  # (source, survivor) -> rows moved

HANDLERS: dict[str, MergeHandler] = {}


def register_merge_handler(model_label: str, handler: MergeHandler) -> None:
    """``model_label`` is ``"app_label.modelname"`` (lower case) of the model holding the foreign key."""
    HANDLERS[model_label.lower()] = handler
