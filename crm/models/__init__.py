from crm.models.attributes import AttributeDefinition
from crm.models.base import SoftDeletable, TimeStamped
from crm.models.companies import Company, DeletedCompany
from crm.models.contacts import ConsentChannel, Contact, ContactConsent, ContactEmail, ContactPhone, DeletedContact
from crm.models.interactions import Interaction
from crm.models.purchases import Order, OrderLine, Product
from crm.models.tags import Tag
from crm.models.users import User

__all__ = [
    "AttributeDefinition",
    "Company",
    "ConsentChannel",
    "Contact",
    "ContactConsent",
    "ContactEmail",
    "ContactPhone",
    "DeletedCompany",
    "DeletedContact",
    "Interaction",
    "Order",
    "OrderLine",
    "Product",
    "SoftDeletable",
    "Tag",
    "TimeStamped",
    "User",
]
