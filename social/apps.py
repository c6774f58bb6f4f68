from django.apps import AppConfig


class SocialConfig(AppConfig):
    """Channel connectors, identities, conversations, messages and listening (see the channels issue)."""

    name = "social"
    verbose_name = "Social"

    def ready(self) -> None:
        from crm.audit import audit
        from social import crm_hooks
        from social.models import (
            AlertRule,
            BlockedAuthor,
            BlockedSite,
            Channel,
            Conversation,
            Identity,
            Monitor,
            PartnerSource,
        )

        crm_hooks.register()
        # The webhook view's per-process channel cache forgets a channel that changed (in this process).
        from django.db.models.signals import post_delete, post_save

        from social.services.channels import channel_cache_forget

        post_save.connect(channel_cache_forget, sender=Channel, dispatch_uid="social.channel_cache.saved")
        post_delete.connect(channel_cache_forget, sender=Channel, dispatch_uid="social.channel_cache.deleted")
        # Conversation and message events for partner webhooks (crm.webhooks).
        from social import webhooks

        webhooks.register()
        # Partner API scopes of the social resources (social.api).
        from crm.api.scopes import register_resource

        register_resource("channels", "Channels")
        register_resource("conversations", "Conversations")
        register_resource("messages", "Messages (write: send replies)")
        # Staff changes to a conversation (status, assignee, priority, labels), to a channel's set-up and to
        # an identity's contact are recorded like CRM records. Not the per-message bookkeeping columns, and
        # never the encrypted credentials.
        audit(Conversation, exclude=frozenset({"last_message_at", "last_inbound_at", "first_response_at"}))
        audit(Channel, exclude=frozenset({"credentials_encrypted"}))
        audit(Identity, exclude=frozenset({"last_seen_at"}))
        # Listening set-up: what is monitored, who is blocked, where alerts go.
        for model in (Monitor, BlockedAuthor, BlockedSite):
            audit(model)
        audit(PartnerSource, exclude=frozenset({"secret_encrypted"}))
        audit(AlertRule, exclude=frozenset({"webhook_secret_encrypted"}))
