from __future__ import annotations

from decimal import Decimal

from django.db import models


class ContactAnalysis(models.Model):
    """Purchase and engagement figures of one contact, with its RFM scores and segment.

    Written only by ``crm.services.analysis.analysis_recompute`` (set-based SQL, nightly and on demand),
    so lists filter and sort on these columns without computing anything per row. Contacts without a
    completed purchase have no scores and an empty segment.
    """

    class Segment(models.TextChoices):
        CHAMPIONS = "champions", "Champions"
        LOYAL = "loyal", "Loyal"
        POTENTIAL_LOYALISTS = "potential_loyalists", "Potential loyalists"
        NEW = "new", "New"
        AT_RISK = "at_risk", "At risk"
        CANT_LOSE = "cant_lose", "Can't lose"
        HIBERNATING = "hibernating", "Hibernating"
        LOST = "lost", "Lost"

    contact = models.OneToOneField("crm.Contact", primary_key=True, on_delete=models.CASCADE, related_name="analysis")
    first_purchase_at = models.DateTimeField(null=True, blank=True)
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    order_count = models.PositiveIntegerField(default=0)
    total_spend = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    average_order_value = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    last_interaction_at = models.DateTimeField(null=True, blank=True)
    recency_score = models.PositiveSmallIntegerField(null=True, blank=True)
    frequency_score = models.PositiveSmallIntegerField(null=True, blank=True)
    monetary_score = models.PositiveSmallIntegerField(null=True, blank=True)
    segment = models.CharField(max_length=24, choices=Segment.choices, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = "customer analysis"
        verbose_name_plural = "customer analyses"
        indexes = [
            # The contact list sorts and filters on these; the quintile boundaries are read through them too.
            models.Index(fields=["segment"], name="crm_analysis_segment_idx"),
            models.Index(fields=["total_spend"], name="crm_analysis_spend_idx"),
            models.Index(fields=["last_purchase_at"], name="crm_analysis_last_purchase_idx"),
            models.Index(fields=["last_interaction_at"], name="crm_analysis_last_touch_idx"),
            models.Index(fields=["order_count"], name="crm_analysis_orders_idx"),
        ]

    def __str__(self) -> str:
        return f"Analysis of contact #{self.contact_id}"
