from __future__ import annotations

from typing import Any

from django.conf import global_settings, settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from crm.models.base import AliveManager, DeletedManager, SoftDeletable, TimeStamped
from crm.phones import normalize_phone


class ConsentChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PHONE = "phone", "Phone call"
    WHATSAPP = "whatsapp", "WhatsApp"
    MESSENGER = "messenger", "Facebook Messenger"
    INSTAGRAM = "instagram", "Instagram"
    TELEGRAM = "telegram", "Telegram"
    WEBCHAT = "webchat", "Web chat"
    POST = "post", "Post"


def check_attributes(value: object) -> None:
    """Field validator: custom attribute values must match their definitions (messages name the key)."""
    from crm.attributes import validate_attributes

    try:
        validate_attributes(value)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict["attributes"], code="invalid_attributes") from None


class Contact(TimeStamped, SoftDeletable):
    class Stage(models.TextChoices):
        LEAD = "lead", "Lead"
        PROSPECT = "prospect", "Prospect"
        CUSTOMER = "customer", "Customer"
        CHURNED = "churned", "Churned"

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company = models.ForeignKey(
        "crm.Company", null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    job_title = models.CharField(max_length=150, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_contacts",
        limit_choices_to={"is_staff": True},
    )
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.LEAD)
    tags = models.ManyToManyField("crm.Tag", blank=True, related_name="contacts")
    source = models.CharField(max_length=100, blank=True, help_text="Where the contact came from, e.g. web form")
    preferred_language = models.CharField(max_length=16, blank=True, choices=global_settings.LANGUAGES)
    attributes = models.JSONField(
        default=dict, blank=True, validators=[check_attributes], help_text="Custom attributes, keyed by definition"
    )
    external_id = models.CharField(max_length=255, null=True, blank=True, help_text="The partner system's id")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from", editable=False,
        help_text="Set when this contact was merged into another (and soft-deleted)",
    )  # fmt: skip
    # Lower-cased "first last", searched with LIKE '%…%' through a trigram index on PostgreSQL.
    search_name = models.TextField(editable=False, default="")

    objects = AliveManager["Contact"]()

    class Meta:
        ordering = ["-id"]
        base_manager_name = "all_objects"
        permissions = [
            ("restore_contact", "Can restore deleted contacts"),
            ("merge_contact", "Can merge contacts"),
            ("import_contact", "Can import contacts"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="crm_contact_external_id_unique",
                violation_error_message="External id: another contact already has this external id.",
            ),
        ]
        indexes = [
            # The stage filter and its count on the contact list. Alive contacts only, as the list asks: the
            # count is then an index-only scan instead of a pass over the table (75 → 30 ms at a million).
            models.Index(fields=["stage", "id"], condition=Q(deleted_at__isnull=True), name="crm_contact_stage_idx"),
            # Partner sync pages through (updated_at, id).
            models.Index(fields=["updated_at", "id"], name="crm_contact_sync_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name or f"Contact #{self.pk}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.search_name = self.full_name.lower()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"first_name", "last_name"} & set(update_fields):  # type: ignore[call-overload]
            kwargs["update_fields"] = {*update_fields, "search_name"}  # type: ignore[misc]
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        if not (self.first_name.strip() or self.last_name.strip()):
            raise ValidationError({"first_name": "Give the contact a first or last name."})

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ContactEmail(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    email = models.EmailField(max_length=254)
    label = models.CharField(max_length=32, blank=True, help_text="work, home, …")
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "email"], name="crm_contactemail_unique_per_contact"),
        ]
        indexes = [
            # Exact search and duplicate detection; stored lower-cased so a plain B-tree serves both.
            models.Index(fields=["email"], name="crm_contactemail_email_idx"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Stored lower-cased on every path (admin, API, import, channels): search and duplicate
        # detection then match exactly through a plain index.
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    def get_additional_data(self) -> dict[str, int]:
        """Lets the contact's history page show changes to its addresses (see ``crm.audit``)."""
        return {"contact_id": self.contact_id}


class ContactPhone(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="phones")
    number = models.CharField(max_length=32, help_text="Any format with a country code; stored in E.164")
    label = models.CharField(max_length=32, blank=True, help_text="mobile, work, …")
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "number"], name="crm_contactphone_unique_per_contact"),
        ]
        indexes = [models.Index(fields=["number"], name="crm_contactphone_number_idx")]

    def __str__(self) -> str:
        return self.number

    def clean(self) -> None:
        try:
            self.number = normalize_phone(self.number)
        except ValidationError as exc:
            raise ValidationError({"number": exc.messages}) from None

    def get_additional_data(self) -> dict[str, int]:
        return {"contact_id": self.contact_id}


class ContactConsent(models.Model):
    """Whether the contact agreed to be contacted on a channel, and when and how that was recorded."""

    class Status(models.TextChoices):
        OPTED_IN = "opted_in", "Opted in"
        OPTED_OUT = "opted_out", "Opted out"

    class Method(models.TextChoices):
        WEB_FORM = "web_form", "Web form"
        VERBAL = "verbal", "Verbal"
        WRITTEN = "written", "Written"
        MESSAGE = "message", "Message on the channel"
        IMPORT = "import", "Import"
        API = "api", "Partner API"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=16, choices=ConsentChannel.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    recorded_at = models.DateTimeField(help_text="When the contact gave or withdrew consent")
    method = models.CharField(max_length=16, choices=Method.choices)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["channel"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "channel"], name="crm_contactconsent_one_per_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.get_status_display()}"

    def get_additional_data(self) -> dict[str, int]:
        return {"contact_id": self.contact_id}


class DeletedContact(Contact):
    """Soft-deleted contacts, listed separately so that managers can restore them."""

    objects = DeletedManager["DeletedContact"]()  # type: ignore[assignment,misc]

    class Meta:
        proxy = True
        verbose_name = "deleted contact"
