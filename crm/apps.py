from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"

    def ready(self) -> None:
        from auditlog.models import LogEntry
        from django.db.models.signals import pre_save

        from crm import audit, roles
        from crm.api import origin
        from crm.services import tombstones
        from crm.webhooks import payloads, signals

        audit.register_models()
        roles.connect_post_migrate()
        # Audit entries written during a partner API request name the key they came from.
        pre_save.connect(origin.stamp_log_entry, sender=LogEntry, dispatch_uid="crm.api.origin")
        # Partner webhooks: crm's records as event resources, and plain saves announced (crm.webhooks.signals).
        payloads.register()
        signals.connect()
        # Every deleted interaction leaves a tombstone for the partners' deletions feed.
        tombstones.connect()
