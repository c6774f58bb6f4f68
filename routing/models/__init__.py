from routing.models.hours import BusinessHours, Holiday, OpeningPeriod
from routing.models.queue import QueueEntry
from routing.models.teams import AgentProfile, Team, TeamMembership

__all__ = ["AgentProfile", "BusinessHours", "Holiday", "OpeningPeriod", "QueueEntry", "Team", "TeamMembership"]
