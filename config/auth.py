"""Staff sign-in policy on top of django-allauth."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.utils import filter_users_by_email, filter_users_by_username
from django.http import HttpRequest


class StaffAccountAdapter(DefaultAccountAdapter):
    """Staff accounts are created by administrators; nobody signs themselves up."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        """Failed sign-ins count against the account, whichever identifier was typed.

        allauth keys its per-account ``login_failed`` limit on the typed text, so "ada" and "ada@example.com"
        would each get their own allowance of guesses at the same password. This hook is private to allauth
        (the version is pinned); tests/test_staff_auth.py notices if it stops being called. The password reset
        clears the limit through the same key, so a reset still unlocks the account.
        """
        accounts = {user.pk for user in _accounts_named(credentials)}
        if len(accounts) == 1:
            return f"account:{accounts.pop()}"
        # Unknown (or ambiguous) identifier: limit what was typed, as allauth does.
        return str(super()._get_login_attempts_cache_key(request, **credentials))


def _accounts_named(credentials: dict[str, Any]) -> list[Any]:
    users: list[Any] = []
    if credentials.get("email"):
        users.extend(filter_users_by_email(credentials["email"]))
    if credentials.get("username"):
        users.extend(filter_users_by_username(credentials["username"]))
    return users
