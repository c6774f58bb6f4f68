"""``/webhooks/<key>/`` is answered by ``social.middleware.WebhookMiddleware``, before the session, auth,
CSRF, clickjacking and audit middleware; the host is still checked, and any other path takes the usual way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from crm.models import User
from social.models import Channel, InboundEvent
from tests.social.conftest import TELEGRAM_TOKEN, post_json
from tests.social.test_telegram import secret_header, update


@pytest.fixture
def telegram(make_channel: Any) -> Channel:
    return make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)


def test_webhook_is_answered_before_the_session_and_audit_middleware(
    telegram: Channel, login: Callable[[User], Client], sam: User
) -> None:
    client = login(sam)  # a browser with a staff session: the webhook reads nothing of it
    response = post_json(client, telegram, update(), **secret_header(telegram))
    assert response.status_code == 200 and InboundEvent.objects.count() == 1
    assert "Cookie" not in response.get("Vary", "")  # the session was not opened
    assert "X-Frame-Options" not in response  # XFrameOptionsMiddleware did not run either
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware, before it, did
    assert response["Content-Length"] == str(len(response.content))  # as CommonMiddleware sets it: not chunked


def test_a_host_outside_allowed_hosts_is_refused(telegram: Channel) -> None:
    response = post_json(Client(), telegram, update(), HTTP_HOST="attacker.example", **secret_header(telegram))
    assert response.status_code == 400
    assert InboundEvent.objects.count() == 0


def test_a_longer_path_takes_the_usual_way(telegram: Channel) -> None:
    response = Client().post(
        f"/webhooks/{telegram.webhook_key}/more/",
        data=b"{}",
        content_type="application/json",
        **secret_header(telegram),
    )
    assert response.status_code == 404
    assert InboundEvent.objects.count() == 0
