"""Channels: creation (with generated tokens), credentials, webhook URL and registration."""

from __future__ import annotations

import secrets
import time

from django.db import transaction
from django.urls import reverse

from social import conf
from social.connectors import connector_for
from social.models import Channel

# key -> (expires at, monotonic clock; the active channel or None). Per process; see channel_for_webhook.
_webhook_channels: dict[str, tuple[float, Channel | None]] = {}
_WEBHOOK_CHANNELS_MAX = 10_000


def channel_for_webhook(key: str) -> Channel | None:
    """The active channel whose webhook key is ``key``, or None.

    Kept per process for ``SOCIAL_CHANNEL_CACHE_SECONDS`` (5; 0: no cache): a webhook then costs the database
    one INSERT. Saving or deleting a channel empties this process's cache; other processes see a change
    (deactivation, new credentials) when their entry expires. Unknown keys are kept too, so that requests
    with random keys cost no query either."""
    ttl = conf.channel_cache_seconds()
    now = time.monotonic()
    entry = _webhook_channels.get(key)
    if entry is not None and entry[0] > now:
        return entry[1]
    channel = Channel.objects.filter(webhook_key=key, is_active=True).order_by().first()
    if ttl > 0:
        if len(_webhook_channels) >= _WEBHOOK_CHANNELS_MAX:
            _webhook_channels.clear()
        _webhook_channels[key] = (now + ttl, channel)
    return channel


def channel_cache_forget(**_: object) -> None:
    """Receiver of Channel's post_save and post_delete (``SocialConfig.ready``)."""
    _webhook_channels.clear()


def channel_webhook_url(*, channel: Channel, base_url: str = "") -> str:
    """The public webhook URL: ``SOCIAL_PUBLIC_URL`` (or ``base_url``, the admin's own host) + the path."""
    path = reverse("social:webhook", kwargs={"key": channel.webhook_key})
    return f"{conf.public_url() or base_url.rstrip('/')}{path}"


def channel_create(*, kind: str, name: str, team: str = "", is_active: bool = True) -> Channel:
    """Create a channel with a fresh webhook key and the tokens its kind needs generated (verify tokens,
    webhook secrets); staff then enter the provider's credentials with ``channel_update_settings``."""
    connector = connector_for(kind)
    if connector is None:
        raise ValueError(f"kind: no connector for {kind!r} yet")
    channel = Channel(kind=kind, name=name, team=team, is_active=is_active)
    secret_values: dict[str, str] = {}
    for field_name, is_secret in connector.generated.items():
        value = secrets.token_urlsafe(32)
        if is_secret:
            secret_values[field_name] = value
        else:
            channel.config[field_name] = value
    channel.set_credentials(secret_values)
    channel.save()
    return channel


def channel_update_settings(*, channel: Channel, values: dict[str, str]) -> Channel:
    """Store the connector's fields: secrets encrypted (a blank secret keeps the stored one), the rest in
    ``config``. Generated values are kept."""
    connector = connector_for(channel.kind)
    if connector is None:
        raise ValueError(f"kind: no connector for {channel.kind!r} yet")
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        credentials = locked.credentials
        config = dict(locked.config)
        for field in connector.fields:
            value = values.get(field.name, "").strip()
            if field.secret:
                if value:
                    credentials[field.name] = value
            elif value:
                config[field.name] = value
            else:
                config.pop(field.name, None)
        locked.config = config
        locked.set_credentials(credentials)
        locked.save(update_fields=["config", "credentials_encrypted", "updated_at"])
    return locked


def channel_register_webhook(*, channel: Channel, base_url: str = "") -> bool:
    """Ask the provider to send updates to our URL where its API allows that (Telegram); False otherwise.

    Raises ``SendError`` with the provider's reason when the provider refuses."""
    from social.connectors.telegram import TelegramConnector

    connector = connector_for(channel.kind)
    if not isinstance(connector, TelegramConnector):
        return False
    connector.register_webhook(channel, channel_webhook_url(channel=channel, base_url=base_url))
    return True
