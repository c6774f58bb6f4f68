from django.apps import AppConfig


class RoutingConfig(AppConfig):
    """Rules, teams, agents, assignment, business hours and SLAs (see the routing issue)."""

    name = "routing"
    verbose_name = "Routing"
