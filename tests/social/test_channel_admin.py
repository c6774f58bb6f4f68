"""Staff manage channels in the admin: secrets go in encrypted and come back masked; the change page
shows the webhook URL and the provider's setup steps."""

from __future__ import annotations

from typing import Any

from social.crypto import decrypt_json
from social.models import Channel, InboundEvent


def test_add_then_enter_credentials_masked_and_encrypted(ada: Any, login: Any, settings: Any) -> None:
    settings.SOCIAL_PUBLIC_URL = "https://crm.example.com"
    client = login(ada)
    response = client.post(
        "/admin/social/channel/add/", {"name": "Shop WhatsApp", "kind": "whatsapp", "is_active": "on", "team": ""}
    )
    channel = Channel.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/admin/social/channel/{channel.pk}/change/")

    response = client.post(
        f"/admin/social/channel/{channel.pk}/change/",
        {
            "name": "Shop WhatsApp",
            "is_active": "on",
            "team": "Support",
            "phone_number_id": "1065",
            "access_token": "EAAG-secret-token-9876",
            "app_secret": "app-secret-5555",
            "api_base": "https://graph.facebook.com/v21.0",
        },
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert "EAAG" not in channel.credentials_encrypted
    assert decrypt_json(channel.credentials_encrypted)["access_token"] == "EAAG-secret-token-9876"
    assert channel.config["phone_number_id"] == "1065" and channel.team == "Support"

    page = client.get(f"/admin/social/channel/{channel.pk}/change/").content.decode()
    assert "EAAG-secret-token-9876" not in page and "••••9876" in page
    assert f"https://crm.example.com/webhooks/{channel.webhook_key}/" in page
    assert channel.config["verify_token"] in page and "approved message template" in page

    # A blank secret keeps the stored one.
    client.post(
        f"/admin/social/channel/{channel.pk}/change/",
        {"name": "Shop WhatsApp", "is_active": "on", "phone_number_id": "1065", "access_token": "", "app_secret": ""},
    )
    channel.refresh_from_db()
    assert channel.secret("access_token") == "EAAG-secret-token-9876"

    listing = client.get("/admin/social/channel/").content.decode()
    assert "••••9876" in listing and "EAAG" not in listing


def test_event_admin_is_read_only_and_filters_by_status(ada: Any, login: Any, make_channel: Any) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, bot_token="123:abc")
    event = InboundEvent.objects.create(channel=channel, provider_event_id="update:1", body=b'{"update_id": 1}')
    client = login(ada)
    assert client.get("/admin/social/inboundevent/?status__exact=pending").status_code == 200
    page = client.get(f"/admin/social/inboundevent/{event.pk}/change/")
    assert page.status_code == 200 and b"update_id" in page.content
    assert client.get("/admin/social/inboundevent/add/").status_code == 403


def test_lists_render(ada: Any, login: Any) -> None:
    client = login(ada)
    for model in ("conversation", "message", "identity"):
        assert client.get(f"/admin/social/{model}/").status_code == 200


def test_agent_cannot_manage_channels(sam: Any, login: Any) -> None:
    assert login(sam).get("/admin/social/channel/add/").status_code == 403
