from __future__ import annotations

from django.db import models


class QueueEntry(models.Model):
    """A conversation waiting in a team's queue because no agent had room when it was routed.

    Routing's own table rather than columns on ``social.Conversation``: the queue is routing state, and
    one row per conversation (the one-to-one) means a conversation waits in at most one queue. The row is
    written and deleted under the conversation's row lock (see ``routing.services.assignment``).
    """

    conversation = models.OneToOneField("social.Conversation", on_delete=models.CASCADE, related_name="queue_entry")
    team = models.ForeignKey("routing.Team", on_delete=models.CASCADE, related_name="queue")
    # When the customer started waiting: kept when the conversation moves to another team's queue, so a
    # transfer does not send a long wait to the back of the line.
    queued_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "queue entries"
        ordering = ["queued_at", "id"]
        indexes = [
            # Draining reads a team's queue oldest first.
            models.Index(fields=["team", "queued_at", "id"], name="routing_queue_team_oldest_idx"),
        ]

    def __str__(self) -> str:
        return f"Conversation #{self.conversation_id} waiting for {self.team}"
