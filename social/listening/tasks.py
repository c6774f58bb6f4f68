"""django-q2 tasks of social listening: ids in, one service call, safe to run twice."""

from __future__ import annotations

from social.listening.alerts import alert_notify, alerts_evaluate
from social.listening.feeds import feed_poll, feeds_enqueue_due
from social.listening.stats import stats_refresh_dirty


def poll_due_feeds() -> int:
    """Scheduled every minute (migration 0004): one ``poll_feed`` task per feed that is due."""
    return feeds_enqueue_due()


def poll_feed(feed_id: int) -> str:
    return feed_poll(feed_id=feed_id)


def refresh_listening_stats() -> int:
    """Scheduled every five minutes (migration 0004): recompute the daily statistics of changed days."""
    return stats_refresh_dirty()


def evaluate_alerts() -> int:
    """Scheduled every five minutes (migration 0004): fire the alert rules whose window is above its level."""
    return alerts_evaluate()


def notify_alert(alert_id: int) -> str:
    return alert_notify(alert_id=alert_id)
