"""Phone numbers are stored in E.164 (``+14155550123``) so that matching and search are exact."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    """Return ``raw`` in E.164, or raise ``ValidationError`` saying why it is not a phone number.

    Numbers without a leading ``+`` are read in ``region`` (``PHONE_DEFAULT_REGION`` by default).
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationError("Enter a phone number.", code="required")
    try:
        parsed = phonenumbers.parse(text, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            "%(value)s is not a phone number; write it with its country code, e.g. +14155550123.",
            code="invalid_phone",
            params={"value": text},
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            "%(value)s is not a valid phone number for its country.", code="invalid_phone", params={"value": text}
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone(text: str) -> bool:
    """True for search terms made of digits and phone punctuation (used to pick the phone search path)."""
    digits = sum(ch.isdigit() for ch in text)
    return digits >= 6 and all(ch.isdigit() or ch in "+-() ." for ch in text.strip())
