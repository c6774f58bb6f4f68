from __future__ import annotations

from django.db import models
from django.db.models import Q


class Trigger(models.TextChoices):
    """The events a rule listens to. ``sla_warning`` and ``sla_breached`` are fired by the SLA sweep through
    ``routing.services.rules.rules_run``; the others by routing itself."""

    MESSAGE_RECEIVED = "message_received", "Message received"
    CONVERSATION_CREATED = "conversation_created", "Conversation created"
    CONVERSATION_REOPENED = "conversation_reopened", "Conversation reopened"
    CONVERSATION_IDLE = "conversation_idle", "Conversation idle"
    SLA_WARNING = "sla_warning", "SLA about to breach"
    SLA_BREACHED = "sla_breached", "SLA breached"


class Rule(models.Model):
    """An ordered routing rule: when ``trigger`` fires and ``conditions`` match, run ``actions`` in order.

    ``conditions`` and ``actions`` are JSON in the schema of ``routing.engine.schema`` (validated and
    normalised by ``clean``, which the admin calls); the active rules are compiled once into closures by
    ``routing.engine.compiler`` and recompiled when any rule changes.
    """

    class IdleWaitingFor(models.TextChoices):
        AGENT = "agent", "No agent reply (the customer is waiting)"
        CUSTOMER = "customer", "No customer reply (we are waiting)"

    name = models.CharField(max_length=150)
    position = models.PositiveIntegerField(default=100, help_text="Rules run in ascending position, then by id.")
    is_active = models.BooleanField("active", default=True)
    trigger = models.CharField(max_length=24, choices=Trigger.choices, default=Trigger.MESSAGE_RECEIVED)
    idle_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Conversation idle only: minutes without a reply."
    )
    idle_waiting_for = models.CharField(
        max_length=8, choices=IdleWaitingFor.choices, blank=True, help_text="Conversation idle only."
    )
    conditions = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=list, blank=True)
    stop_processing = models.BooleanField(
        "stop processing further rules", default=False, help_text="When this rule matches, later rules are skipped."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            # The compiler's version check: count and max(updated_at) over all rules, one index-only scan.
            models.Index(fields=["updated_at"], name="routing_rule_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from routing.engine.validation import rule_clean

        rule_clean(self)


class RoutingState(models.Model):
    """Routing's own per-conversation state (social's ``Conversation`` does not know routing exists).

    ``reopen_pending``: set when the conversation is resolved; the next customer message fires
    ``conversation_reopened`` and clears it. ``ooo_replied_until``: the end of the closed period in which
    the out-of-office reply was sent (one reply per conversation per closed period). ``sla_policy_id``: the
    policy a rule applied; the SLA feature owns the policies and reads this id.
    """

    conversation = models.OneToOneField("social.Conversation", on_delete=models.CASCADE, related_name="routing_state")
    reopen_pending = models.BooleanField(default=False)
    ooo_replied_until = models.DateTimeField(null=True, blank=True)
    sla_policy_id = models.PositiveIntegerField(null=True, blank=True)
    sla_applied_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Routing state of conversation #{self.conversation_id}"


class RoutingRun(models.Model):
    """One run of the rules for a conversation: the events fired and the full trace (see ``engine.trace``).

    ``key`` makes a run happen once: ``message:<id>`` for a stored message (running the task twice does not
    reply twice), or a key the caller chooses for other events (``sla_breached:<conv>:<deadline>``).
    """

    conversation = models.ForeignKey("social.Conversation", on_delete=models.CASCADE, related_name="routing_runs")
    message = models.ForeignKey(
        "social.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="routing_runs"
    )
    key = models.CharField(max_length=200, null=True, blank=True)
    events = models.JSONField(default=list)
    trace = models.JSONField(default=dict)
    rules_matched = models.PositiveIntegerField(default=0)
    actions_failed = models.PositiveIntegerField(default=0)
    duration_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(key__isnull=False), name="routing_run_key_once"),
        ]
        indexes = [
            # The conversation page lists its runs, newest first.
            models.Index(fields=["conversation", "-created_at"], name="routing_run_conv_idx"),
        ]

    def __str__(self) -> str:
        return f"Routing run #{self.pk} ({', '.join(self.events)})"


class RuleWebhookCall(models.Model):
    """A partner webhook a rule asked for, delivered by ``routing.tasks.deliver_rule_webhook`` after commit
    (signed like the API channel, retried with back-off on timeouts and 5xx)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(RoutingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhooks")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.ForeignKey("social.Channel", on_delete=models.CASCADE, related_name="+")
    url = models.CharField(max_length=500)
    body = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Webhook #{self.pk} to {self.url}"
