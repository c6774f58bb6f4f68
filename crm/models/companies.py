from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm.models.base import AliveManager, DeletedManager, SoftDeletable, TimeStamped
from crm.phones import normalize_phone


class Company(TimeStamped, SoftDeletable):
    class SizeBand(models.TextChoices):
        MICRO = "1-10", "1–10 employees"
        SMALL = "11-50", "11–50 employees"
        MEDIUM = "51-200", "51–200 employees"
        LARGE = "201-1000", "201–1,000 employees"
        XLARGE = "1001-5000", "1,001–5,000 employees"
        ENTERPRISE = "5000+", "more than 5,000 employees"

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, help_text="Web domain, e.g. example.com")
    industry = models.CharField(max_length=100, blank=True)
    size_band = models.CharField(max_length=16, choices=SizeBand.choices, blank=True)
    address_line1 = models.CharField("address", max_length=200, blank=True)
    address_line2 = models.CharField("address (line 2)", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField("state / region", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 two-letter code, e.g. DE")
    phone = models.CharField(max_length=32, blank=True, help_text="Stored in E.164, e.g. +14155550123")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_companies",
        limit_choices_to={"is_staff": True},
    )
    tags = models.ManyToManyField("crm.Tag", blank=True, related_name="companies")
    notes = models.TextField(blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True, help_text="The partner system's id")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from", editable=False,
        help_text="Set when this company was merged into another (and soft-deleted)",
    )  # fmt: skip
    # Lower-cased copy of the name, searched with LIKE '%…%' through a trigram index on PostgreSQL.
    search_name = models.TextField(editable=False, default="")

    objects = AliveManager["Company"]()

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name", "id"]
        base_manager_name = "all_objects"
        permissions = [
            ("restore_company", "Can restore deleted companies"),
            ("merge_company", "Can merge companies"),
            ("import_company", "Can import companies"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="crm_company_external_id_unique",
                violation_error_message="External id: another company already has this external id.",
            ),
        ]
        indexes = [
            models.Index(fields=["name"], name="crm_company_name_idx"),
            models.Index(fields=["domain"], name="crm_company_domain_idx"),
            # Partner sync pages through (updated_at, id).
            models.Index(fields=["updated_at", "id"], name="crm_company_sync_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.domain = self.domain.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        self.country = self.country.strip().upper()
        if self.phone:
            from django.core.exceptions import ValidationError

            try:
                self.phone = normalize_phone(self.phone)
            except ValidationError as exc:
                raise ValidationError({"phone": exc.messages}) from None

    def save(self, *args: object, **kwargs: object) -> None:
        self.search_name = self.name.lower()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:  # type: ignore[operator]
            kwargs["update_fields"] = {*update_fields, "search_name"}  # type: ignore[misc]
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class DeletedCompany(Company):
    """Soft-deleted companies, listed separately so that managers can restore them."""

    objects = DeletedManager["DeletedCompany"]()  # type: ignore[assignment,misc]

    class Meta:
        proxy = True
        verbose_name = "deleted company"
        verbose_name_plural = "deleted companies"
