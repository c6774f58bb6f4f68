from __future__ import annotations

import secrets

from django.db import models

from social.crypto import decrypt_json, encrypt_json


def new_webhook_key() -> str:
    """256 random bits: the key is the only thing that names a channel in its public webhook URL."""
    return secrets.token_urlsafe(32)


class Channel(models.Model):
    """One connected account (a Facebook page, a WhatsApp number, a Telegram bot, …).

    Secrets (tokens, app secrets) live in ``credentials_encrypted`` (Fernet, see ``social.crypto``);
    non-secret provider settings (page id, phone number id, ``api_base``) live in ``config``.
    """

    class Kind(models.TextChoices):
        MESSENGER = "messenger", "Facebook Messenger"
        INSTAGRAM = "instagram", "Instagram"
        WHATSAPP = "whatsapp", "WhatsApp Cloud API"
        TELEGRAM = "telegram", "Telegram bot"
        TWILIO_SMS = "twilio_sms", "SMS (Twilio)"
        API = "api", "Partner API"
        EMAIL = "email", "Email"
        WEBCHAT = "webchat", "Web chat"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField("active", default=True)
    # Routing teams do not exist yet: a team name for now, to become a foreign key when routing lands.
    team = models.CharField(max_length=100, blank=True, help_text="Team that handles this channel's conversations")
    webhook_key = models.CharField(max_length=64, unique=True, default=new_webhook_key, editable=False)
    config = models.JSONField(default=dict, blank=True)
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def credentials(self) -> dict[str, str]:
        # Decrypted once per instance and ciphertext (a webhook reads a secret on every request).
        cached = self.__dict__.get("_credentials_plain")
        if cached is None or cached[0] != self.credentials_encrypted:
            cached = (self.credentials_encrypted, decrypt_json(self.credentials_encrypted))
            self.__dict__["_credentials_plain"] = cached
        return dict(cached[1])

    def set_credentials(self, values: dict[str, str]) -> None:
        self.credentials_encrypted = encrypt_json({k: v for k, v in values.items() if v})

    def secret(self, name: str) -> str:
        return self.credentials.get(name, "")

    def setting(self, name: str, default: str = "") -> str:
        value = self.config.get(name, default)
        return str(value) if value is not None else default
