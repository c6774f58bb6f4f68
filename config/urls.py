from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config.health import healthz

# Staff sign in through allauth (rate limits, password reset, two-factor) also when they open the admin.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "Social CRM"
admin.site.site_title = "Social CRM"
admin.site.index_title = "Customers, conversations and routing"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/", include("social.api.urls")),  # before crm.api.urls: its last route is the API's 404
    path("api/", include("crm.api.urls")),
    path("", include("social.urls")),
    path("listening/", include("social.listening.urls")),
]
