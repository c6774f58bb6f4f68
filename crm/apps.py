from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"

    def ready(self) -> None:
        from crm import audit, roles

        audit.register_models()
        roles.connect_post_migrate()
