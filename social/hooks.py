"""Hooks other apps register to hear about social events, so social never imports them.

``on_message_stored(callback)``: ``callback(message_id=…, conversation_id=…, inbound=…)`` is called inside
the transaction that stored a message (inbound or echo), right after the row is written. Callbacks must be
cheap and defer real work to after the commit (``social.services.queue.enqueue_on_commit``). Routing
registers its handler in ``RoutingConfig.ready``.
"""

from __future__ import annotations

from typing import Protocol


class MessageStored(Protocol):
    def __call__(self, *, message_id: int, conversation_id: int, inbound: bool) -> None: ...


_message_stored: list[MessageStored] = []


def on_message_stored(callback: MessageStored) -> None:
    """Register ``callback`` (once: registering the same callable again does nothing)."""
    if callback not in _message_stored:
        _message_stored.append(callback)


def message_stored(*, message_id: int, conversation_id: int, inbound: bool) -> None:
    for callback in list(_message_stored):
        callback(message_id=message_id, conversation_id=conversation_id, inbound=inbound)
