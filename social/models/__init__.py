from social.models.channels import Channel
from social.models.conversations import Conversation
from social.models.events import InboundEvent
from social.models.identities import Identity
from social.models.listening import (
    Alert,
    AlertRule,
    BlockedAuthor,
    BlockedSite,
    Feed,
    Mention,
    MentionDailyStat,
    Monitor,
    PartnerSource,
    SourceKind,
)
from social.models.listening_dashboard import ListeningDashboard, MentionTopStat
from social.models.messages import Message

__all__ = ["Channel", "Conversation", "Identity", "InboundEvent", "Message"]
__all__ += [
    "Alert",
    "AlertRule",
    "BlockedAuthor",
    "BlockedSite",
    "Feed",
    "ListeningDashboard",
    "Mention",
    "MentionDailyStat",
    "MentionTopStat",
    "Monitor",
    "PartnerSource",
    "SourceKind",
]
