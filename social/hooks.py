"""Hooks other apps register to hear about social events, so social never imports them.

``on_messages_stored(callback)``: ``callback(stored)`` is called inside the transaction that stored one or
more messages (inbound or echoes), right after the rows are written, with a tuple of ``StoredMessage``
in the order they were stored (the inbound drain stores a batch at once; a reply stores one). Callbacks
must be cheap and defer real work to after the commit (``social.services.queue.enqueue_on_commit``).
Routing registers its handler in ``RoutingConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple


class StoredMessage(NamedTuple):
    message_id: int
    conversation_id: int
    inbound: bool


MessagesStored = Callable[[tuple[StoredMessage, ...]], None]

_messages_stored: list[MessagesStored] = []


def on_messages_stored(callback: MessagesStored) -> None:
    """Register ``callback`` (once: registering the same callable again does nothing)."""
    if callback not in _messages_stored:
        _messages_stored.append(callback)


def messages_stored(stored: Sequence[StoredMessage]) -> None:
    if not stored:
        return
    batch = tuple(stored)
    for callback in list(_messages_stored):
        callback(batch)


def message_stored(*, message_id: int, conversation_id: int, inbound: bool) -> None:
    messages_stored([StoredMessage(message_id, conversation_id, inbound)])
