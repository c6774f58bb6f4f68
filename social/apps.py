from django.apps import AppConfig


class SocialConfig(AppConfig):
    """Channel connectors, identities, conversations, messages and listening (see the channels issue)."""

    name = "social"
    verbose_name = "Social"

    def ready(self) -> None:
        from social import crm_hooks

        crm_hooks.register()
