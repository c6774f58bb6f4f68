from django.apps import AppConfig


class RoutingConfig(AppConfig):
    """Rules, teams, agents, assignment, business hours and SLAs (see the routing issue)."""

    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from crm.audit import audit
        from routing import signals
        from routing.models import (
            AgentProfile,
            BusinessHours,
            Holiday,
            OpeningPeriod,
            Rule,
            SlaPolicy,
            Team,
            TeamMembership,
        )

        # Also registers the routing task on social's "message stored" hook (``social.hooks``).
        signals.connect()
        # Set-up changes are audited like CRM records; not the round-robin cursor, which moves on every
        # assignment.
        for model in (Team, BusinessHours, OpeningPeriod, Holiday, Rule, SlaPolicy):
            audit(model)
        audit(AgentProfile, exclude=frozenset({"availability_changed_at"}))
        audit(TeamMembership, exclude=frozenset({"last_assigned_at"}))
