"""``/api/v1/`` (resources), ``/api/schema/`` (OpenAPI 3) and ``/api/docs/`` (Swagger UI from our static files)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from crm.api.activity import TagViewSet
from crm.api.base import api_not_found
from crm.api.companies import CompanyViewSet
from crm.api.contacts import ContactViewSet
from crm.api.interactions import InteractionViewSet
from crm.api.purchases import OrderViewSet, ProductViewSet
from crm.api.segments import SegmentViewSet
from crm.webhooks.api import WebhookSubscriptionViewSet

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="api-contact")
router.register("companies", CompanyViewSet, basename="api-company")
router.register("interactions", InteractionViewSet, basename="api-interaction")
router.register("products", ProductViewSet, basename="api-product")
router.register("orders", OrderViewSet, basename="api-order")
router.register("tags", TagViewSet, basename="api-tag")
router.register("webhook-subscriptions", WebhookSubscriptionViewSet, basename="api-webhook-subscription")
router.register("segments", SegmentViewSet, basename="api-segment")

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^(?P<path>.*)$", api_not_found),
]
