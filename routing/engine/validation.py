"""Validation of a whole rule (called by ``Rule.clean``, hence by the admin): trigger settings, conditions
(``routing.engine.schema``) and actions (``routing.engine.action_schema``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from routing.engine.action_schema import actions_clean
from routing.engine.schema import conditions_clean

if TYPE_CHECKING:
    from routing.models import Rule


def rule_clean(rule: Rule) -> None:
    """Validate and normalise ``rule``'s trigger settings, conditions and actions; ``ValidationError`` by field."""
    errors: dict[str, list[str]] = {}
    if rule.trigger == "conversation_idle":
        if not rule.idle_minutes:
            errors["idle_minutes"] = ["An idle rule needs the number of minutes without a reply."]
        if not rule.idle_waiting_for:
            errors["idle_waiting_for"] = ["Say whose reply is awaited (agent or customer)."]
    else:
        if rule.idle_minutes:
            errors["idle_minutes"] = ["Only conversation idle rules have idle minutes."]
        if rule.idle_waiting_for:
            errors["idle_waiting_for"] = ["Only conversation idle rules wait for a reply."]
    conditions, condition_problems = conditions_clean(rule.conditions, trigger=rule.trigger)
    actions, action_problems = actions_clean(rule.actions)
    if condition_problems:
        errors["conditions"] = condition_problems
    else:
        rule.conditions = conditions
    if action_problems:
        errors["actions"] = action_problems
    else:
        rule.actions = actions
    if errors:
        raise ValidationError(errors)
