from crm.models.analysis import ContactAnalysis
from crm.models.api import ApiKey, IdempotencyRecord
from crm.models.attributes import AttributeDefinition
from crm.models.base import SoftDeletable, TimeStamped
from crm.models.companies import Company, DeletedCompany
from crm.models.contacts import ConsentChannel, Contact, ContactConsent, ContactEmail, ContactPhone, DeletedContact
from crm.models.interactions import Interaction, InteractionTombstone
from crm.models.purchases import Order, OrderLine, Product
from crm.models.segments import Segment, SegmentMember
from crm.models.tags import Tag
from crm.models.users import User
from crm.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookSubscription

__all__ = [
    "ApiKey",
    "AttributeDefinition",
    "Company",
    "ConsentChannel",
    "Contact",
    "ContactAnalysis",
    "ContactConsent",
    "ContactEmail",
    "ContactPhone",
    "DeletedCompany",
    "DeletedContact",
    "IdempotencyRecord",
    "Interaction",
    "InteractionTombstone",
    "Order",
    "OrderLine",
    "Product",
    "Segment",
    "SegmentMember",
    "SoftDeletable",
    "Tag",
    "TimeStamped",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
