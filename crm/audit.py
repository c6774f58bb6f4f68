"""Field-level audit trail of every change to CRM records (django-auditlog).

Who is recorded: the signed-in staff member for admin requests (``AuditlogMiddleware``); code that acts for
someone else (API keys, tasks) wraps its work in ``auditlog.context.set_actor``. Child rows (a contact's
addresses and consents, an order's lines) carry their parent's id in ``additional_data`` so that the
parent's history page shows them too.
"""

from __future__ import annotations

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, Q, QuerySet

# Child model -> (parent model name, key in additional_data)
CHILDREN: dict[str, tuple[str, str]] = {
    "contactemail": ("contact", "contact_id"),
    "contactphone": ("contact", "contact_id"),
    "contactconsent": ("contact", "contact_id"),
    "orderline": ("order", "order_id"),
}


def register_models() -> None:
    from crm import models as m

    auditlog.register(m.Contact, m2m_fields={"tags"}, exclude_fields=["search_name", "updated_at"])
    auditlog.register(m.Company, m2m_fields={"tags"}, exclude_fields=["search_name", "updated_at"])
    plain: list[type[Model]] = [m.ContactEmail, m.ContactPhone, m.ContactConsent, m.AttributeDefinition, m.Tag]
    for model in plain:
        auditlog.register(model)
    timestamped: list[type[Model]] = [m.Interaction, m.Product, m.Order]
    for model in timestamped:
        auditlog.register(model, exclude_fields=["updated_at"])
    auditlog.register(m.OrderLine, exclude_fields=["line_total"])


def history_for(obj: Model) -> QuerySet[LogEntry]:
    """Log entries of ``obj`` and of the child rows that belong to it, newest first."""
    condition = Q(content_type=ContentType.objects.get_for_model(obj), object_pk=str(obj.pk))
    parent_name = obj._meta.model_name
    for child, (parent, key) in CHILDREN.items():
        if parent == parent_name:
            condition |= Q(
                content_type__app_label="crm", content_type__model=child, **{f"additional_data__{key}": obj.pk}
            )
    entries: QuerySet[LogEntry] = LogEntry.objects.filter(condition)
    return entries.select_related("actor", "content_type").order_by("-timestamp", "-id")
