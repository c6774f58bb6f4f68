"""Mandatory two-factor authentication for staff (``STAFF_REQUIRE_2FA``)."""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse


class RequireStaffTwoFactorMiddleware:
    """Sends a signed-in staff member without TOTP to the set-up page before any staff page.

    Only the admin is guarded: the account pages (where TOTP is set up, and logout) must stay reachable.
    The check is one indexed query per admin request and deliberately not cached on the session: a staff
    member who removes their authenticator must be stopped on the next page, not when the session ends.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.STAFF_REQUIRE_2FA and self._needs_setup(request):
            messages.warning(request, "Two-factor authentication is required for staff: set it up to continue.")
            return HttpResponseRedirect(reverse("mfa_activate_totp"))
        return self.get_response(request)

    def _needs_setup(self, request: HttpRequest) -> bool:
        user = request.user
        if not (user.is_authenticated and user.is_staff and request.path.startswith("/admin/")):
            return False
        return not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
