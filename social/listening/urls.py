from django.urls import URLPattern, path

from social.listening.views import ingest

app_name = "listening"
urlpatterns: list[URLPattern] = [
    path("ingest/<str:key>/", ingest, name="ingest"),
]
