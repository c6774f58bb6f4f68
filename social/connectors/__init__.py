"""The registry: one connector per channel kind. Adding a kind means one module and one line here."""

from __future__ import annotations

from social.connectors.api import ApiConnector
from social.connectors.base import Connector
from social.connectors.email import EmailConnector
from social.connectors.meta import InstagramConnector, MessengerConnector
from social.connectors.telegram import TelegramConnector
from social.connectors.twilio import TwilioSmsConnector
from social.connectors.webchat import WebchatConnector
from social.connectors.whatsapp import WhatsAppConnector

CONNECTORS: dict[str, Connector] = {
    connector.kind: connector
    for connector in (
        MessengerConnector(),
        InstagramConnector(),
        WhatsAppConnector(),
        TelegramConnector(),
        TwilioSmsConnector(),
        ApiConnector(),
        EmailConnector(),
        WebchatConnector(),
    )
}


def connector_for(kind: str) -> Connector | None:
    return CONNECTORS.get(kind)
