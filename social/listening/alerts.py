"""Alert rules: evaluate every few minutes, fire at most once per window, notify by e-mail and signed webhook.

Windows are aligned to the epoch (an hourly rule's windows start on the hour, UTC). The current window is
the one ``now`` falls in, still filling: a spike is reported while it happens, not an hour later.

``alerts_evaluate`` (scheduled, migration 0004), per active rule:

1. count the monitor's relevant mentions by window over the current window and the ``baseline_windows``
   before it (one query; windows without mentions count as zero);
2. compute the value (volume, or negative share) and the level (mean + k·σ of the earlier windows'
   values, or the fixed threshold); fire when the window has ``min_mentions`` and the value exceeds it;
3. firing inserts an ``Alert`` for (rule, window start) — the unique constraint makes a second evaluation
   of the same window a no-op — with up to five sample mentions, and enqueues ``alert_notify`` on commit.

``alert_notify`` sends the e-mail and POSTs the webhook (signed like the partner API: ``X-SCRM-Timestamp``,
``X-SCRM-Signature: sha256=HMAC(secret, timestamp + "." + body)``); it records each outcome, skips what
already went out (safe to run twice), and retries a failing webhook with backoff, five attempts in all.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from collections import Counter

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.webhooks.addresses import UnsafeURL, webhook_target
from crm.webhooks.delivery import sign
from crm.webhooks.transport import post
from social import conf
from social.connectors.api import SIGNATURE_HEADER, TIMESTAMP_HEADER
from social.models import Alert, AlertRule, Mention
from social.services.queue import enqueue_on_commit, schedule_on_commit

SAMPLES = 5
WEBHOOK_MAX_ATTEMPTS = 5
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def window_start(moment: dt.datetime, minutes: int) -> dt.datetime:
    seconds = minutes * 60
    elapsed = int((moment - _EPOCH).total_seconds())
    return _EPOCH + dt.timedelta(seconds=elapsed - elapsed % seconds)


def alerts_evaluate(*, now: dt.datetime | None = None) -> int:
    """Evaluate every active rule at ``now``; returns how many alerts fired."""
    now = now or timezone.now()
    fired = 0
    for rule in AlertRule.objects.filter(is_active=True, monitor__is_active=True).select_related("monitor"):
        if alert_rule_evaluate(rule=rule, now=now) is not None:
            fired += 1
    return fired


def alert_rule_evaluate(*, rule: AlertRule, now: dt.datetime) -> Alert | None:
    width = dt.timedelta(minutes=rule.window_minutes)
    current = window_start(now, rule.window_minutes)
    first = current - width * rule.baseline_windows
    rows = Mention.objects.filter(
        monitors=rule.monitor, is_irrelevant=False, posted_at__gte=first, posted_at__lt=current + width
    ).values_list("posted_at", "sentiment_label")
    totals: Counter[int] = Counter()
    negatives: Counter[int] = Counter()
    for posted_at, label in rows.iterator(chunk_size=5000):
        if posted_at is None:
            continue  # ingest always sets it; older rows without one have no window
        index = int((posted_at - first) / width)  # 0 … baseline_windows (the current one)
        totals[index] += 1
        if label == Mention.Sentiment.NEGATIVE:
            negatives[index] += 1
    current_index = rule.baseline_windows
    in_window = totals[current_index]
    if in_window < rule.min_mentions:
        return None
    if rule.metric == AlertRule.Metric.VOLUME:
        value = float(in_window)
        history = [float(totals[i]) for i in range(rule.baseline_windows)]
    else:
        value = negatives[current_index] / in_window
        # Windows with too few mentions say nothing about the usual share.
        history = [negatives[i] / totals[i] for i in range(rule.baseline_windows) if totals[i] >= rule.min_mentions]
    mean = statistics.fmean(history) if history else None
    sd = statistics.pstdev(history) if len(history) > 1 else None
    if rule.trigger == AlertRule.Trigger.FIXED:
        level = float(rule.threshold or 0)
    elif mean is None:
        return None  # no history to compare with yet
    else:
        level = mean + rule.k * (sd or 0.0)
    if value <= level:
        return None
    return _fire(
        rule=rule, start=current, end=current + width, value=value, level=level, mean=mean, sd=sd, count=in_window
    )


def _fire(
    *,
    rule: AlertRule,
    start: dt.datetime,
    end: dt.datetime,
    value: float,
    level: float,
    mean: float | None,
    sd: float | None,
    count: int,
) -> Alert | None:
    window_mentions = Mention.objects.filter(
        monitors=rule.monitor, is_irrelevant=False, posted_at__gte=start, posted_at__lt=end
    )
    if rule.metric == AlertRule.Metric.NEGATIVE_SHARE:
        samples = window_mentions.order_by("sentiment_score", "-posted_at")
    else:
        samples = window_mentions.order_by("-posted_at")
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule,
                window_start=start,
                window_end=end,
                value=value,
                level=level,
                baseline_mean=mean,
                baseline_sd=sd,
                mentions_in_window=count,
                email_status=Alert.Delivery.PENDING if rule.recipients else Alert.Delivery.NONE,
                webhook_status=Alert.Delivery.PENDING if rule.webhook_url else Alert.Delivery.NONE,
            )
            alert.samples.set(list(samples.values_list("id", flat=True)[:SAMPLES]))
            enqueue_on_commit("social.listening.tasks.notify_alert", alert.pk)
    except IntegrityError:
        return None  # this window already fired
    return alert


def _samples(alert: Alert) -> list[dict[str, object]]:
    return [
        {
            "id": m.pk,
            "text": m.text[:500],
            "author": m.author_handle or m.author_name,
            "url": m.url,
            "posted_at": m.posted_at.isoformat() if m.posted_at else None,
            "sentiment": m.sentiment_label,
        }
        for m in alert.samples.order_by("id")
    ]


def _describe(alert: Alert, samples: list[dict[str, object]]) -> dict[str, object]:
    rule = alert.rule
    return {
        "type": "listening_alert",
        "id": alert.pk,
        "rule": {"id": rule.pk, "name": rule.name, "metric": rule.metric, "trigger": rule.trigger},
        "monitor": {"id": rule.monitor_id, "name": rule.monitor.name, "kind": rule.monitor.kind},
        "window": {"start": alert.window_start.isoformat(), "end": alert.window_end.isoformat()},
        "value": alert.value,
        "level": alert.level,
        "baseline": {"mean": alert.baseline_mean, "sd": alert.baseline_sd},
        "mentions_in_window": alert.mentions_in_window,
        "samples": samples,
    }


def alert_notify(*, alert_id: int) -> str:
    """Send what is still pending for this alert (e-mail, webhook); safe to run twice."""
    alert = Alert.objects.select_related("rule__monitor").filter(pk=alert_id).first()
    if alert is None:
        return "no such alert"
    rule, samples = alert.rule, _samples(alert)
    payload = _describe(alert, samples)
    done = []
    if alert.email_status == Alert.Delivery.PENDING:
        metric = rule.get_metric_display().lower()
        value = f"{alert.value:.0%}" if rule.metric == AlertRule.Metric.NEGATIVE_SHARE else f"{alert.value:.0f}"
        level = f"{alert.level:.0%}" if rule.metric == AlertRule.Metric.NEGATIVE_SHARE else f"{alert.level:.1f}"
        lines = [
            f"{rule.monitor.name}: {metric} {value} from {alert.window_start:%Y-%m-%d %H:%M} UTC, above {level}.",
            "",
            "Sample mentions:",
            *[f"- {s['author'] or 'unknown'}: {s['text']} {s['url']}".rstrip() for s in samples],
        ]
        send_mail(
            subject=f"[Listening] {rule.name}: {metric} {value}",
            message="\n".join(lines),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=rule.recipients,
        )
        alert.email_status = Alert.Delivery.SENT
        alert.save(update_fields=["email_status"])
        done.append("email sent")
    if alert.webhook_status == Alert.Delivery.PENDING:
        done.append(_post_webhook(alert, rule, payload))
    return ", ".join(done) or "nothing pending"


def _post_webhook(alert: Alert, rule: AlertRule, payload: dict[str, object]) -> str:
    body = json.dumps(payload).encode()
    timestamp = int(time.time())
    alert.webhook_attempts += 1
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(rule.webhook_secret, body, timestamp),
    }
    # The partner webhooks' address policy and transport: in production https to public addresses only,
    # sent to the address that was checked (no SSRF, no DNS rebinding, no redirects followed).
    try:
        answer = post(webhook_target(rule.webhook_url), body=body, headers=headers, timeout=conf.http_timeout())
        problem = answer.error or (
            "" if answer.status is not None and 200 <= answer.status < 300 else f"HTTP {answer.status}"
        )
    except UnsafeURL as exc:
        problem = f"not sent: {exc}"
    if problem:
        alert.last_error = f"webhook attempt {alert.webhook_attempts}: {problem}"[:1000]
        if alert.webhook_attempts >= WEBHOOK_MAX_ATTEMPTS:
            alert.webhook_status = Alert.Delivery.FAILED
        else:
            delay = float(getattr(settings, "LISTENING_ALERT_RETRY_SECONDS", 30)) * 2 ** (alert.webhook_attempts - 1)
            schedule_on_commit(
                "social.listening.tasks.notify_alert", alert.pk, at=timezone.now() + dt.timedelta(seconds=delay)
            )
        alert.save(update_fields=["webhook_status", "webhook_attempts", "last_error"])
        return f"webhook failed ({problem})"
    alert.webhook_status = Alert.Delivery.SENT
    alert.save(update_fields=["webhook_status", "webhook_attempts"])
    return "webhook sent"
