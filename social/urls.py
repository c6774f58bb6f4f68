from django.urls import URLPattern

app_name = "social"
urlpatterns: list[URLPattern] = []
