"""Alert rules: a monitor's volume or negative share above its baseline (mean + k·σ) or a fixed threshold
fires once per window, with sample mentions, by e-mail and by a signed webhook to a partner's server."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from django_q.models import Schedule

from social.listening.alerts import window_start
from social.listening.services import MentionInput, mention_ingest
from social.listening.tasks import evaluate_alerts
from social.models import Alert, AlertRule, Feed, Monitor
from tests.listening.conftest import FakeProvider

HOOK_SECRET = "alert-webhook-secret-0123456789abcdef"


@pytest.fixture
def feed(db: None) -> Feed:
    return Feed.objects.create(name="Reviews", url="https://reviews.example.com/rss")


@pytest.fixture
def acme(make_monitor: Any) -> Monitor:
    return make_monitor("Acme", "acme")


def current_window() -> dt.datetime:
    return window_start(timezone.now(), 60)


def post(feed: Feed, count: int, at: dt.datetime, text: str = "acme bikes are here", prefix: str = "m") -> None:
    for index in range(count):
        item = MentionInput.build(
            external_id=f"{prefix}-{at.isoformat()}-{index}",
            text=f"{text} #{index}",
            author_handle=f"user{index}",
            url=f"https://social.example.com/{prefix}/{index}",
            posted_at=at + dt.timedelta(seconds=index),
        )
        mention_ingest(item=item, feed=feed)


def make_rule(monitor: Monitor, **fields: Any) -> AlertRule:
    values = {
        "name": "Acme spike",
        "window_minutes": 60,
        "baseline_windows": 24,
        "k": 3.0,
        "min_mentions": 5,
        "email_to": "pr@example.com, ceo@example.com",
        **fields,
    }
    rule = AlertRule(monitor=monitor, **values)
    rule.full_clean()
    rule.save()
    return rule


def test_volume_spike_above_baseline_alerts_once_per_window(
    feed: Feed, acme: Monitor, tasks: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    assert Schedule.objects.filter(func="social.listening.tasks.evaluate_alerts", minutes=5).exists()
    rule = make_rule(acme, webhook_url=fake_provider.url + "/alerts")
    rule.set_webhook_secret(HOOK_SECRET)
    rule.save()
    start = current_window()
    for back in range(1, 25):  # 2 or 3 mentions in each of the 24 earlier hours: mean 2.5, σ 0.5, level 4
        post(feed, 2 + back % 2, start - dt.timedelta(hours=back) + dt.timedelta(minutes=1), prefix=f"b{back}")
    post(feed, 4, start + dt.timedelta(seconds=1), prefix="now")
    assert evaluate_alerts() == 0  # 4 in the window: under min_mentions (5)
    post(feed, 1, start + dt.timedelta(seconds=30), prefix="more")
    assert evaluate_alerts() == 1  # 5 > mean + 3σ = 4
    alert = Alert.objects.get()
    assert alert.value == 5 and alert.level == pytest.approx(4.0) and alert.baseline_mean == pytest.approx(2.5)
    assert alert.window_start == start and alert.samples.count() == 5
    assert evaluate_alerts() == 0  # the same window never fires twice
    post(feed, 10, start + dt.timedelta(seconds=40), prefix="evenmore")
    assert evaluate_alerts() == 0 and Alert.objects.count() == 1

    assert mail.outbox == []  # notifications go out after commit, from a task
    tasks.run()
    message = mail.outbox[0]
    assert message.to == ["pr@example.com", "ceo@example.com"]
    assert message.subject == "[Listening] Acme spike: mention volume 5"
    assert "Acme: mention volume 5 from" in message.body and "above 4.0" in message.body
    assert "user0: acme bikes are here #0 https://social.example.com/now/0" in message.body

    request = fake_provider.requests[0]
    stamp = request.headers["x-scrm-timestamp"]
    expected = hmac.new(HOOK_SECRET.encode(), f"{stamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-scrm-signature"] == f"sha256={expected}"
    payload = request.json()
    assert payload["type"] == "listening_alert" and payload["monitor"]["name"] == "Acme"
    assert payload["value"] == 5 and len(payload["samples"]) == 5
    alert.refresh_from_db()
    assert alert.email_status == "sent" and alert.webhook_status == "sent"
    tasks.queued.append(("social.listening.tasks.notify_alert", (alert.pk,)))
    tasks.run()  # run twice: nothing goes out again
    assert len(mail.outbox) == 1 and len(fake_provider.requests) == 1


def test_ordinary_volume_does_not_alert(feed: Feed, acme: Monitor, tasks: Any) -> None:
    make_rule(acme, min_mentions=1)
    start = current_window()
    for back in range(1, 25):
        post(feed, 3 + back % 3, start - dt.timedelta(hours=back), prefix=f"b{back}")
    post(feed, 4, start + dt.timedelta(seconds=1), prefix="now")
    assert evaluate_alerts() == 0 and not Alert.objects.exists()


def test_negative_share_above_a_fixed_threshold(feed: Feed, acme: Monitor, tasks: Any) -> None:
    make_rule(acme, metric="negative_share", trigger="fixed", threshold=0.5, min_mentions=8)
    start = current_window()
    post(feed, 2, start + dt.timedelta(seconds=1), text="acme is lovely and great", prefix="happy")
    post(feed, 5, start + dt.timedelta(seconds=5), text="acme broke, terrible, awful, I hate it", prefix="angry")
    assert evaluate_alerts() == 0  # 7 mentions: under min_mentions
    post(feed, 1, start + dt.timedelta(seconds=9), text="acme is the worst, horrible", prefix="angry2")
    assert evaluate_alerts() == 1
    alert = Alert.objects.get()
    assert alert.value == pytest.approx(0.75) and alert.level == 0.5
    assert alert.samples.filter(sentiment_label="negative").count() == 5  # the most negative first
    tasks.run()
    assert mail.outbox[0].subject == "[Listening] Acme spike: negative share 75%"


def test_failing_webhook_is_retried_then_recorded(
    feed: Feed, acme: Monitor, tasks: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.LISTENING_ALERT_RETRY_SECONDS = 0.01
    rule = make_rule(acme, trigger="fixed", threshold=1, email_to="", webhook_url=fake_provider.url + "/hook")
    rule.set_webhook_secret(HOOK_SECRET)
    rule.save()
    fake_provider.script((500, {"error": "down"}), (200, {}))
    post(feed, 5, current_window() + dt.timedelta(seconds=1))
    evaluate_alerts()
    tasks.run()
    alert = Alert.objects.get()
    assert alert.webhook_status == "pending" and "HTTP 500" in alert.last_error and alert.webhook_attempts == 1
    tasks.run_scheduled()
    alert.refresh_from_db()
    assert alert.webhook_status == "sent" and alert.webhook_attempts == 2 and alert.email_status == "none"
    assert len(fake_provider.requests) == 2 and mail.outbox == []


def test_staff_define_rules_in_the_admin(ada: Any, login: Any, acme: Monitor) -> None:
    client = login(ada)
    base = {
        "name": "Acme negative",
        "monitor": str(acme.pk),
        "metric": "negative_share",
        "trigger": "fixed",
        "window_minutes": "60",
        "baseline_windows": "168",
        "k": "3",
        "threshold": "",
        "min_mentions": "5",
        "email_to": "pr@example.com",
        "webhook_url": "",
        "is_active": "on",
    }
    page = client.post("/admin/social/alertrule/add/", base).content.decode()
    assert "a fixed trigger needs its threshold" in page
    page = client.post("/admin/social/alertrule/add/", {**base, "threshold": "40"}).content.decode()
    assert "a share is between 0 and 1" in page
    page = client.post("/admin/social/alertrule/add/", {**base, "threshold": "0.4", "email_to": "not-an-address"})
    assert "Enter a valid email address." in page.content.decode()
    page = client.post(
        "/admin/social/alertrule/add/", {**base, "threshold": "0.4", "webhook_url": "https://partner.example.com/h"}
    )
    assert "A webhook needs its signing secret." in page.content.decode()
    response = client.post(
        "/admin/social/alertrule/add/",
        {
            **base,
            "threshold": "0.4",
            "webhook_url": "https://partner.example.com/h",
            "webhook_secret": HOOK_SECRET,
        },
    )
    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert rule.webhook_secret == HOOK_SECRET and HOOK_SECRET not in rule.webhook_secret_encrypted
    assert client.get("/admin/social/alert/").status_code == 200


def test_in_production_alert_webhooks_follow_the_address_policy(
    ada: Any, login: Any, feed: Feed, acme: Monitor, tasks: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    """Like partner webhooks and feeds: https to public addresses only, checked on save and on every send."""
    settings.PRODUCTION = True
    page = login(ada).post(
        "/admin/social/alertrule/add/",
        {"name": "Internal", "monitor": str(acme.pk), "metric": "volume", "trigger": "fixed", "threshold": "1",
         "window_minutes": "60", "baseline_windows": "168", "k": "3", "min_mentions": "1",
         "webhook_url": "https://169.254.169.254/latest", "webhook_secret": HOOK_SECRET, "is_active": "on"},
    ).content.decode()  # fmt: skip
    assert "This URL cannot be used" in page and not AlertRule.objects.filter(name="Internal").exists()
    # A rule stored before (or while not in production) is refused when it sends, and nothing is sent.
    rule = make_rule(acme, trigger="fixed", threshold=1, email_to="", webhook_url=fake_provider.url + "/hook")
    rule.set_webhook_secret(HOOK_SECRET)
    rule.save()
    post(feed, 5, current_window() + dt.timedelta(seconds=1))
    evaluate_alerts()
    tasks.run()
    alert = Alert.objects.get()
    assert alert.webhook_status == "pending" and "not sent: use an https:// URL" in alert.last_error
    assert fake_provider.requests == []
