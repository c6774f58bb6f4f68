"""``/api/v1/`` routes of the social resources; included before ``crm.api.urls`` (whose last route answers
unknown API paths with a 404 problem)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import SimpleRouter

from social.api.channels import ChannelViewSet, IdentityViewSet
from social.api.conversations import ConversationViewSet
from social.api.messages import MessageViewSet

router = SimpleRouter()
router.register("channels", ChannelViewSet, basename="api-channel")
router.register("conversations", ConversationViewSet, basename="api-conversation")
router.register(
    r"conversations/(?P<conversation_pk>[0-9]+)/messages", MessageViewSet, basename="api-conversation-message"
)
router.register("messages", MessageViewSet, basename="api-message")
router.register(r"contacts/(?P<contact_pk>[0-9]+)/identities", IdentityViewSet, basename="api-contact-identity")

urlpatterns: list[URLPattern | URLResolver] = [path("v1/", include(router.urls))]
