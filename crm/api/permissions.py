"""Scope checks: a key needs ``<resource>:read`` (or ``:write``) for the view's resource; a staff session
needs the matching Django model permissions. Anything else is refused before the queryset is touched."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from crm.models import ApiKey

# Django permission actions a staff member needs per method. PUT and bulk may create or update (upsert).
UPSERT = ("add", "change")
STAFF_ACTIONS = {
    "GET": ("view",),
    "HEAD": ("view",),
    "OPTIONS": ("view",),
    "POST": ("add",),
    "PUT": ("add", "change"),
    "PATCH": ("change",),
    "DELETE": ("delete",),
}


def access_for(method: str) -> str:
    return "read" if method in SAFE_METHODS else "write"


class HasResourceScope(BasePermission):
    """Views declare ``scope_resource`` (e.g. "contacts") and ``scope_model`` (the model staff perms are on)."""

    message = "You may not use this resource."

    def has_permission(self, request: Request, view: Any) -> bool:
        resource: str = view.scope_resource
        access = access_for(request.method or "GET")
        if isinstance(request.auth, ApiKey):
            if request.auth.has_scope(resource, access):
                return True
            self.message = f"This API key has no {resource}:{access} scope."
            return False
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        opts = view.scope_model._meta
        actions = UPSERT if getattr(view, "action", None) == "bulk" else STAFF_ACTIONS.get(request.method or "", UPSERT)
        if all(user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}") for action in actions):
            return True
        self.message = f"Your account may not {access} {resource}."
        return False
