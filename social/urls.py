from django.urls import URLPattern, path

from social.views import webhook

app_name = "social"
urlpatterns: list[URLPattern] = [
    path("webhooks/<str:key>/", webhook, name="webhook"),
]
