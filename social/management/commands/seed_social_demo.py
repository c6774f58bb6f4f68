"""Demo conversations for ``make run``: a web chat channel on the local site and a few visitors writing in.

Idempotent: a second run finds the demo channel and adds nothing. The messages go through the same path
as real ones (stored as inbound events, then processed), so the demo shows what the product does. Replies
from the admin work offline: the web chat delivers to the visitor's browser, not to a provider.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from social.connectors.webchat import new_visitor_id
from social.models import Channel
from social.services.channels import channel_create, channel_update_settings
from social.services.inbound import inbound_event_process
from social.services.webchat import webchat_message_post

DEMO_CHANNEL = "Website chat (demo)"
VISITORS = [
    ("Lea Brandt", "lea.brandt@example.com", ["Hi! Do you ship to Lisbon?", "And how long does it usually take?"]),
    ("Tom Reyes", "", ["My order 1042 arrived damaged. The frame is scratched all over, really disappointed."]),
    ("", "", ["Hallo, habt ihr den Trekking-Rucksack auch in Grün?"]),
    ("Aiko Tanaka", "aiko@example.com", ["Thanks for the quick help yesterday, everything works perfectly now!"]),
]


class Command(BaseCommand):
    help = "Create a demo web chat channel with a few conversations (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--origin", action="append", default=[], help="Allowed origin (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        if Channel.objects.filter(name=DEMO_CHANNEL).exists():
            self.stdout.write("Social demo already loaded.")
            return
        origins = options["origin"] or ["http://127.0.0.1:8000", "http://localhost:8000"]
        channel = channel_create(kind=Channel.Kind.WEBCHAT, name=DEMO_CHANNEL)
        channel_update_settings(
            channel=channel,
            values={
                "allowed_origins": " ".join(origins),
                "title": "Acme Outdoor help",
                "welcome": "Hi! Ask us anything about your order or our products.",
            },
        )
        messages = 0
        for name, email, texts in VISITORS:
            visitor = new_visitor_id()
            for number, text in enumerate(texts, start=1):
                event_id, _created = webchat_message_post(
                    channel=channel,
                    visitor_id=visitor,
                    message_id=f"demo-{number:04d}",
                    text=text,
                    name=name,
                    email=email,
                )
                # Processed now so the inbox is full when the page opens; the worker finds it done.
                inbound_event_process(event_id=event_id)
                messages += 1
        self.stdout.write(
            f"Social demo loaded: channel “{DEMO_CHANNEL}”, {len(VISITORS)} conversations, {messages} messages. "
            "Try the widget at /webchat/demo/."
        )
