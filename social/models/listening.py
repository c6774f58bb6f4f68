"""Social listening: what the public says (mentions), what we look for (monitors) and where it comes from.

Mentions arrive from RSS/Atom feeds (``Feed``, polled by a schedule), from partners' listening feeds posting
to a signed endpoint (``PartnerSource``) and from public comments reaching connected channels. Staff block
noisy authors and sites (``BlockedAuthor``, ``BlockedSite``): later mentions from them are not stored.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Upper

from social.crypto import decrypt_json, encrypt_json
from social.listening.query import QuerySyntaxError, compile_query


class SourceKind(models.TextChoices):
    FEED = "feed", "RSS/Atom feed"
    PARTNER = "partner", "Partner listening feed"
    CHANNEL_COMMENT = "channel_comment", "Channel comment"


class Monitor(models.Model):
    """A boolean keyword query (``social.listening.query``) with optional language and source filters."""

    class Kind(models.TextChoices):
        BRAND = "brand", "Brand"
        PRODUCT = "product", "Product"
        COMPETITOR = "competitor", "Competitor"
        TOPIC = "topic", "Topic"

    name = models.CharField(max_length=100)
    query = models.TextField(
        help_text='Words, "quoted phrases", #hashtags and @handles with AND, OR, NOT (or -word) and parentheses. '
        'Example: (acme OR "acme bikes" OR #acmebikes) -jobs'
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.BRAND)
    languages = models.JSONField(
        default=list, blank=True, help_text="ISO 639-1 codes (en, de, …); empty matches every language"
    )
    source_kinds = models.JSONField(default=list, blank=True, help_text="Empty matches every source")
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The classifier's cache is keyed on this (with the count and the highest id): save through the ORM
    # or the admin, never with queryset.update(), or running workers keep the old query.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            compile_query(self.query)
        except QuerySyntaxError as exc:
            raise ValidationError({"query": exc.message}) from None
        bad = [code for code in self.languages if not (isinstance(code, str) and code.isalpha() and len(code) == 2)]
        if bad:
            raise ValidationError({"languages": f"not a two-letter language code: {', '.join(map(str, bad))}"})
        unknown = [kind for kind in self.source_kinds if kind not in SourceKind.values]
        if unknown:
            raise ValidationError({"source_kinds": f"unknown source: {', '.join(map(str, unknown))}"})


class Feed(models.Model):
    """An RSS or Atom feed polled with conditional GET; its status shows what the last poll found."""

    class Status(models.TextChoices):
        NEW = "new", "Not polled yet"
        OK = "ok", "OK"
        WARNING = "warning", "Read with problems"
        ERROR = "error", "Error"

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=1000, unique=True)
    is_active = models.BooleanField("active", default=True)
    poll_interval_minutes = models.PositiveIntegerField(default=15)
    etag = models.CharField(max_length=500, blank=True, editable=False)
    last_modified = models.CharField(max_length=100, blank=True, editable=False)
    next_poll_at = models.DateTimeField(null=True, blank=True, help_text="Empty: at the next sweep")
    last_polled_at = models.DateTimeField(null=True, blank=True, editable=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.NEW, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # The sweep's query: active feeds whose next poll is due.
            models.Index(fields=["is_active", "next_poll_at"], name="social_feed_due_idx"),
        ]

    def __str__(self) -> str:
        return self.name


def new_ingest_key() -> str:
    """256 random bits: the key alone names the partner source in its public URL."""
    return secrets.token_urlsafe(32)


class PartnerSource(models.Model):
    """A partner's listening feed that POSTs batches of mentions, signed like the partner API channel."""

    name = models.CharField(max_length=100)
    is_active = models.BooleanField("active", default=True)
    ingest_key = models.CharField(max_length=64, unique=True, default=new_ingest_key, editable=False)
    secret_encrypted = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def signing_secret(self) -> str:
        return decrypt_json(self.secret_encrypted).get("signing_secret", "")

    def set_signing_secret(self, secret: str) -> None:
        self.secret_encrypted = encrypt_json({"signing_secret": secret})


class Mention(models.Model):
    """One public post or comment, classified: monitors matched, language, sentiment."""

    class Sentiment(models.TextChoices):
        POSITIVE = "positive", "Positive"
        NEUTRAL = "neutral", "Neutral"
        NEGATIVE = "negative", "Negative"

    source_kind = models.CharField(max_length=16, choices=SourceKind.choices)
    # "feed:<id>", "partner:<id>" or "channel:<id>": external ids are unique only within one source.
    source_ref = models.CharField(max_length=64)
    external_id = models.CharField(max_length=500)
    feed = models.ForeignKey(Feed, null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions")
    partner = models.ForeignKey(
        PartnerSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions"
    )
    channel = models.ForeignKey(
        "social.Channel", null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions"
    )
    author_handle = models.CharField(max_length=200, blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    # The channel's user id of the author (channel comments): whom a private reply or a conversation reaches.
    author_external_id = models.CharField(max_length=255, blank=True)
    # What a reply needs besides the external id (channel comments: post or media id, comment or mention).
    source_meta = models.JSONField(default=dict, blank=True)
    text = models.TextField(blank=True)
    url = models.URLField(max_length=2000, blank=True)
    site = models.CharField(max_length=255, blank=True, help_text="Host name of the URL, for blocking sites")
    posted_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    reach = models.JSONField(default=dict, blank=True, help_text="followers, likes, shares when the source gives them")
    language = models.CharField(max_length=8, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    sentiment_label = models.CharField(max_length=8, choices=Sentiment.choices, default=Sentiment.NEUTRAL)
    sentiment_corrected = models.BooleanField(default=False, help_text="Set by staff; never recomputed")
    monitors = models.ManyToManyField(Monitor, blank=True, related_name="mentions")
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions"
    )
    tags = models.JSONField(default=list, blank=True)
    is_irrelevant = models.BooleanField("irrelevant", default=False)
    # Engaging with the author (``social.listening.engage``): the conversation the reply went to, or the
    # task staff were given when the source cannot be answered from here.
    conversation = models.ForeignKey(
        "social.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions"
    )
    task = models.ForeignKey(
        "crm.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions"
    )
    # Set by every write that changes what the daily statistics count (ingest, staff corrections); the
    # stats sweep recomputes the days of dirty mentions and clears the flag.
    stats_dirty = models.BooleanField(default=True, editable=False)

    class Meta:
        ordering = ["-posted_at", "-id"]
        constraints = [
            # A feed repeating old items and two deliveries racing each other must not store two rows.
            models.UniqueConstraint(fields=["source_ref", "external_id"], name="social_mention_unique_per_source"),
        ]
        indexes = [
            models.Index(fields=["posted_at"], name="social_mention_posted_idx"),
            # Blocking an author marks their earlier mentions irrelevant: ``author_handle__iexact`` compares
            # UPPER(author_handle), which a plain index on the column would not serve.
            models.Index(Upper("author_handle"), name="social_mention_author_ci_idx"),
            # The stats sweep looks only at dirty rows: a small partial index, not one over millions.
            models.Index(
                fields=["posted_at"], condition=models.Q(stats_dirty=True), name="social_mention_stats_dirty_idx"
            ),
        ]

    def __str__(self) -> str:
        return (self.text[:60] + "…") if len(self.text) > 60 else self.text


class BlockedAuthor(models.Model):
    """Mentions by this handle are no longer stored (compared without case and a leading '@')."""

    handle = models.CharField(max_length=200, unique=True)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["handle"]

    def __str__(self) -> str:
        return self.handle

    def clean(self) -> None:
        # Stored as compared: "@Acme_Fan" and "acme_fan" are the same author.
        self.handle = self.handle.strip().lstrip("@").casefold()


class BlockedSite(models.Model):
    """Mentions whose URL is on this host or one of its subdomains are no longer stored."""

    domain = models.CharField(max_length=255, unique=True)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def clean(self) -> None:
        self.domain = self.domain.strip().lower().removeprefix("www.")


class MentionDailyStat(models.Model):
    """Mentions per monitor and day (UTC, by posted time), irrelevant ones left out: what charts read.

    Recomputed a whole day at a time by ``social.listening.stats`` from the mentions marked dirty, so staff
    corrections and late-arriving mentions land in the right day without per-row counters.
    """

    day = models.DateField()
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="daily_stats")
    mentions = models.PositiveIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    neutral = models.PositiveIntegerField(default=0)
    negative = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "monitor_id"]
        constraints = [
            models.UniqueConstraint(fields=["monitor", "day"], name="social_mentionstat_unique_day"),
        ]
        indexes = [
            # Charts over every monitor for a date range (share of voice) read by day.
            models.Index(fields=["day"], name="social_mentionstat_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.monitor_id} {self.day}: {self.mentions}"

    @property
    def negative_share(self) -> float:
        return self.negative / self.mentions if self.mentions else 0.0


class AlertRule(models.Model):
    """Notify when a monitor's mention volume or negative share in the current window is unusually high.

    ``baseline``: above the mean + k·σ of the ``baseline_windows`` windows before the current one;
    ``fixed``: above ``threshold`` (a count for volume, a fraction 0–1 for negative share). Either way at
    least ``min_mentions`` mentions must be in the window, and a rule fires at most once per window.
    """

    class Metric(models.TextChoices):
        VOLUME = "volume", "Mention volume"
        NEGATIVE_SHARE = "negative_share", "Negative share"

    class Trigger(models.TextChoices):
        BASELINE = "baseline", "Above the baseline (mean + k·σ)"
        FIXED = "fixed", "Above a fixed threshold"

    name = models.CharField(max_length=100)
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="alert_rules")
    metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.VOLUME)
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.BASELINE)
    window_minutes = models.PositiveIntegerField(default=60, help_text="Length of a window (at least 5 minutes)")
    baseline_windows = models.PositiveIntegerField(default=168, help_text="Windows before the current one (≥ 3)")
    k = models.FloatField("k (σ multiplier)", default=3.0)
    threshold = models.FloatField(null=True, blank=True, help_text="For the fixed trigger")
    min_mentions = models.PositiveIntegerField(default=5, help_text="Fewer mentions in the window never alert")
    email_to = models.CharField(max_length=500, blank=True, help_text="Comma-separated addresses")
    webhook_url = models.URLField(max_length=1000, blank=True, help_text="Partner URL receiving a signed POST")
    webhook_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.window_minutes is not None and self.window_minutes < 5:
            errors["window_minutes"] = "at least 5 minutes"
        if self.baseline_windows is not None and self.baseline_windows < 3:
            errors["baseline_windows"] = "at least 3 windows make a baseline"
        if self.k is not None and self.k < 0:
            errors["k"] = "must not be negative"
        if self.trigger == self.Trigger.FIXED:
            if self.threshold is None:
                errors["threshold"] = "a fixed trigger needs its threshold"
            elif self.metric == self.Metric.NEGATIVE_SHARE and not 0 <= self.threshold <= 1:
                errors["threshold"] = "a share is between 0 and 1 (0.4 = 40 %)"
            elif self.threshold < 0:
                errors["threshold"] = "must not be negative"
        if errors:
            raise ValidationError(errors)

    @property
    def webhook_secret(self) -> str:
        return decrypt_json(self.webhook_secret_encrypted).get("secret", "")

    def set_webhook_secret(self, secret: str) -> None:
        self.webhook_secret_encrypted = encrypt_json({"secret": secret})

    @property
    def recipients(self) -> list[str]:
        return [address.strip() for address in self.email_to.split(",") if address.strip()]


class Alert(models.Model):
    """One firing of a rule for one window, with what caused it and how the notifications went."""

    class Delivery(models.TextChoices):
        NONE = "none", "Not configured"
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    value = models.FloatField(help_text="Volume or negative share in the window when it fired")
    level = models.FloatField(help_text="The level it exceeded")
    baseline_mean = models.FloatField(null=True, blank=True)
    baseline_sd = models.FloatField(null=True, blank=True)
    mentions_in_window = models.PositiveIntegerField(default=0)
    samples = models.ManyToManyField(Mention, blank=True, related_name="alerts")
    email_status = models.CharField(max_length=8, choices=Delivery.choices, default=Delivery.NONE)
    webhook_status = models.CharField(max_length=8, choices=Delivery.choices, default=Delivery.NONE)
    webhook_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-window_start", "-id"]
        constraints = [
            # At most once per window, also when two evaluations overlap.
            models.UniqueConstraint(fields=["rule", "window_start"], name="social_alert_once_per_window"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} at {self.window_start:%Y-%m-%d %H:%M}"
