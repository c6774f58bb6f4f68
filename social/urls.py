from django.urls import URLPattern, path

from social import webchat_views
from social.views import webhook

app_name = "social"
WEBHOOK_PREFIX = "webhooks/"  # social.middleware.WebhookMiddleware answers these before most middleware
urlpatterns: list[URLPattern] = [
    path(f"{WEBHOOK_PREFIX}<str:key>/", webhook, name="webhook"),
    path("chat/<str:key>/session", webchat_views.session, name="webchat-session"),
    path("chat/<str:key>/messages", webchat_views.messages, name="webchat-messages"),
    path("webchat/demo/", webchat_views.demo_page, name="webchat-demo"),
]
