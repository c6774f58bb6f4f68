"""Social data takes part in crm features: merge, the customer 360 timeline, and last-interaction analysis."""

from __future__ import annotations

from typing import Any

import pytest

from crm.models import ContactAnalysis
from crm.services.analysis import analysis_recompute
from crm.services.merge import contacts_merge
from crm.timeline import timeline_page
from social.models import Channel, Conversation, Identity, Message
from tests.social.conftest import TELEGRAM_TOKEN
from tests.social.test_identities_and_conversations import deliver


@pytest.fixture
def telegram(make_channel: Any) -> Channel:
    return make_channel(Channel.Kind.TELEGRAM, bot_token=TELEGRAM_TOKEN)


def test_contact_merge_moves_identities_and_joins_open_conversations(telegram, tasks, make_contact, maria):
    deliver(telegram, tasks, 1, 1, chat=1001)
    deliver(telegram, tasks, 2, 2, chat=2002)
    first, second = (Identity.objects.get(external_id=x).contact for x in ("1001", "2002"))
    assert first != second

    contacts_merge(survivor=first, others=[second], actor=maria)

    assert set(Identity.objects.values_list("contact", flat=True)) == {first.pk}
    open_ones = Conversation.objects.exclude(status="resolved")
    assert [c.contact_id for c in open_ones] == [first.pk]  # one open conversation per contact and channel
    assert open_ones.get().messages.count() == 2  # no message lost
    assert Message.objects.count() == 2


def test_messages_appear_in_the_timeline_and_count_as_interactions(telegram, tasks, ada, login):
    deliver(telegram, tasks, 1, 1, chat=3003)
    contact = Identity.objects.get().contact
    message = Message.objects.get()

    entries, _ = timeline_page(contact)
    assert [(e.source, e.id) for e in entries] == [("social.message", message.pk)]
    page = login(ada).get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert "Inbound · Telegram bot" in page

    analysis_recompute()
    assert ContactAnalysis.objects.get(contact=contact).last_interaction_at == message.created_at
