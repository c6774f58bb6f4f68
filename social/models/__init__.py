from social.models.channels import Channel
from social.models.conversations import Conversation
from social.models.events import InboundEvent
from social.models.identities import Identity
from social.models.messages import Message

__all__ = ["Channel", "Conversation", "Identity", "InboundEvent", "Message"]
