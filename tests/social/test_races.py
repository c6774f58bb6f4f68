"""Two deliveries racing on PostgreSQL (real concurrent transactions): one message, one identity."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from crm.models import Contact
from social.connectors.base import WebhookRequest
from social.models import Channel, Identity, InboundEvent, Message
from social.services.inbound import inbound_event_store
from social.tasks import process_inbound_event
from tests.helpers.concurrency import run_concurrently
from tests.social.conftest import TELEGRAM_TOKEN
from tests.social.test_telegram import update

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises all writers")


def _store(channel: Channel, update_id: int) -> int:
    body = json.dumps(update(update_id=update_id)).encode()
    event_id, _ = inbound_event_store(
        channel=channel, request=WebhookRequest(body=body, headers={}), provider_event_id=f"update:{update_id}"
    )
    return event_id


def test_same_message_in_two_events_processed_concurrently(make_channel: Any, tasks: Any) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)
    event_ids = [_store(channel, 1), _store(channel, 2)]
    errors = run_concurrently(process_inbound_event, event_ids)
    assert errors == []
    assert Message.objects.count() == 1 and Identity.objects.count() == 1 and Contact.objects.count() == 1
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_same_event_processed_by_two_workers(make_channel: Any, tasks: Any) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)
    event_id = _store(channel, 1)
    errors = run_concurrently(process_inbound_event, [event_id, event_id])
    assert errors == []
    assert Message.objects.count() == 1
    event = InboundEvent.objects.get()
    assert event.status == "processed"


def test_same_delivery_stored_concurrently_once(make_channel: Any, tasks: Any) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)
    errors = run_concurrently(lambda _: _store(channel, 7), [0, 1, 2])
    assert errors == []
    assert InboundEvent.objects.count() == 1


def test_two_drains_meet_the_same_new_senders(make_channel: Any, tasks: Any) -> None:
    """Each drain holds half of three new senders' messages: the senders are created once (advisory locks),
    every message is stored once, in one conversation per sender."""
    from social.models import Conversation
    from social.services.inbound_batch import inbound_events_process
    from tests.social.test_inbound_batch import store, tg_update

    channel = make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)
    ids = [store(channel, n, tg_update(n, 900 + n % 3, n, f"message {n}")) for n in range(1, 13)]
    errors = run_concurrently(lambda part: inbound_events_process(event_ids=part), [ids[0::2], ids[1::2]])
    assert errors == []
    assert Identity.objects.count() == 3 and Contact.objects.count() == 3
    assert Conversation.objects.count() == 3 and Message.objects.count() == 12
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}
