"""Create (once) the demo staff account and print how to sign in."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from crm.models import User
from crm.roles import ADMINISTRATOR

USERNAME = "admin"


class Command(BaseCommand):
    help = "Create the demo administrator if missing (password kept in var/demo-admin-password) and print the login."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(self, *args: Any, url: str, **options: Any) -> None:
        password_file = settings.VAR_DIR / "demo-admin-password"
        with transaction.atomic():
            user = User.objects.filter(username=USERNAME).first()
            if user is None or not password_file.exists():
                password = secrets.token_urlsafe(12)
                user = user or User(username=USERNAME, email="admin@example.com", first_name="Ada", last_name="Admin")
                user.is_staff = user.is_superuser = user.is_active = True
                user.set_password(password)
                user.save()
                user.groups.add(Group.objects.get(name=ADMINISTRATOR))
                password_file.parent.mkdir(parents=True, exist_ok=True)
                password_file.write_text(password + "\n")
                password_file.chmod(0o600)
            password = password_file.read_text().strip()
        self.stdout.write(
            "\n"
            "  Social CRM is starting.\n"
            f"  Open   {url}\n"
            f"  User   {USERNAME}\n"
            f"  Pass   {password}\n"
            "  (stored in var/demo-admin-password; Ctrl-C stops the server and the worker)\n"
        )
