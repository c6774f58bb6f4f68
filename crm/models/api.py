"""Partner API keys and the stored answers that make retried writes idempotent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiKey(models.Model):
    """A partner's key. Only a SHA-256 hash of the secret is stored; ``prefix`` (the start of the key) lets
    staff recognise it in lists and logs. ``scopes`` holds ``"<resource>:read"`` / ``"<resource>:write"``."""

    name = models.CharField(max_length=100, help_text="Who uses the key, e.g. Shop ERP (production)")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="api_keys",
        help_text="The partner's account: recorded as the actor of every change made with this key",
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    def has_scope(self, resource: str, access: str) -> bool:
        """``access`` is "read" or "write"; write implies read."""
        wanted = {f"{resource}:write"} if access == "write" else {f"{resource}:read", f"{resource}:write"}
        return bool(wanted & set(self.scopes or []))


class IdempotencyRecord(models.Model):
    """The answer to one write sent with an ``Idempotency-Key``, replayed when the same request comes again.

    ``owner`` is "key:<id>" or "user:<id>" so keys of different partners never collide. A row with a null
    ``status`` is a request still being processed.
    """

    owner = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            # The race guard: of two concurrent requests with one key, one insert wins, the other is refused.
            models.UniqueConstraint(fields=["owner", "key"], name="crm_idempotency_owner_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"
