from routing.models.hours import BusinessHours, Holiday, OpeningPeriod
from routing.models.queue import QueueEntry
from routing.models.rules import RoutingRun, RoutingState, Rule, RuleWebhookCall, Trigger
from routing.models.sla import ConversationSla, SlaPolicy
from routing.models.teams import AgentProfile, Team, TeamMembership

__all__ = [
    "AgentProfile",
    "BusinessHours",
    "ConversationSla",
    "Holiday",
    "OpeningPeriod",
    "QueueEntry",
    "RoutingRun",
    "RoutingState",
    "Rule",
    "RuleWebhookCall",
    "SlaPolicy",
    "Team",
    "TeamMembership",
    "Trigger",
]
