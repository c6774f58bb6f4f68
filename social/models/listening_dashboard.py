"""What the listening dashboard reads besides ``MentionDailyStat``: the top terms and authors per day.

``MentionTopStat`` keeps, per monitor and UTC day, the ``TOP_KEEP`` most frequent terms and authors (by
number of mentions), recomputed with the day's ``MentionDailyStat`` rows by ``social.listening.stats``. A
range's top list sums these per-day lists: exact for anything that is in the daily top lists, a lower
bound for a term that never is (it cannot reach the range's top 20 unless it is frequent on some day).

``ListeningDashboard`` is a proxy with no data of its own: it puts "Listening dashboard" under Social in
the admin's app list; its admin renders the charts (``social.admin.listening_dashboard``).
"""

from __future__ import annotations

from django.db import models

from social.models.listening import MentionDailyStat, Monitor

TOP_KEEP = 30


class MentionTopStat(models.Model):
    class Kind(models.TextChoices):
        TERM = "term", "Term"
        AUTHOR = "author", "Author"

    day = models.DateField()
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="top_stats")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The normalised term, or the author's handle without "@" (their name when there is no handle).
    key = models.CharField(max_length=200)
    label = models.CharField(max_length=200, blank=True, help_text="How the author shows: name and handle")
    mentions = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day", "monitor_id", "kind", "-mentions"]
        constraints = [
            # Leading on day: the dashboard's range scan and the sweep's "replace this day" use it.
            models.UniqueConstraint(fields=["day", "kind", "monitor", "key"], name="social_mentiontop_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.key}: {self.mentions}"


class ListeningDashboard(MentionDailyStat):
    class Meta:
        proxy = True
        verbose_name = "listening dashboard"
        verbose_name_plural = "listening dashboard"
