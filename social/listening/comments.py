"""Public comments on connected channels (Facebook page feed, Instagram comments and @mentions) as mentions.

The Meta connector parses webhook changes into ``PublicComment`` events; inbound processing hands each to
``comment_receive``, which stores it through ``mention_ingest(channel=…)`` like every other source: once
per channel and comment id (a redelivered webhook stores nothing new), classified, linked to the contact
when the author is a known identity on that channel.
"""

from __future__ import annotations

import logging

from social.connectors import connector_for
from social.connectors.base import PermanentSendError, PublicComment
from social.listening.services import MentionInput, mention_ingest
from social.models import Channel

logger = logging.getLogger(__name__)


def comment_complete(*, channel: Channel, comment: PublicComment) -> PublicComment | None:
    """The comment with its text, or None when there is nothing to store (no text, fetch refused).

    An Instagram @mention names the comment only: its text is fetched from the Graph API. A timeout or 5xx
    there raises ``TransientSendError``, so the stored webhook event is retried later. The inbound batch
    calls this before its transaction, so that no provider call runs while it holds row locks.
    """
    connector = connector_for(channel.kind)
    if not comment.text and connector is not None:
        try:
            comment = connector.comment_fetch(channel, comment)
        except PermanentSendError as exc:
            logger.warning("channel %s: comment %s cannot be read: %s", channel.pk, comment.comment_id, exc.reason)
            return None
    return comment if comment.text.strip() else None


def comment_receive(*, channel: Channel, comment: PublicComment) -> bool:
    """Store the comment as a mention (``comment_complete`` first); False when there is nothing to store."""
    completed = comment_complete(channel=channel, comment=comment)
    if completed is None:
        return False
    comment = completed
    item = MentionInput.build(
        external_id=comment.comment_id,
        text=comment.text,
        author_handle=comment.author_handle,
        author_name=comment.author_name,
        author_id=comment.author_id,
        url=comment.permalink,
        posted_at=comment.created_at,
        source_meta={"kind": comment.kind, "post_id": comment.post_id, "parent_id": comment.parent_id},
    )
    mention_ingest(item=item, channel=channel)
    return True
