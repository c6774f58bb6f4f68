"""Create (once) the demo staff account and print how to sign in."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
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
        """1. Reuse the stored password (or make one); 2. create the account, or give it that password when
        it does not match; 3. store the password; 4. print the login. Run again, it prints the same login."""
        password_file: Path = settings.VAR_DIR / "demo-admin-password"
        password = password_file.read_text().strip() if password_file.exists() else ""
        password = password or secrets.token_urlsafe(12)
        with transaction.atomic():
            user = User.objects.select_for_update().filter(username=USERNAME).first()
            if user is None:
                user = User(username=USERNAME, email="admin@example.com", first_name="Ada", last_name="Admin")
                user.is_staff = user.is_superuser = user.is_active = True
                user.set_password(password)
                user.save()
            elif not (user.is_active and user.is_staff and user.check_password(password)):
                # The stored password belongs to another database (var/ kept while DATABASE_URL changed) or
                # the account was changed: the login printed below must be one that works.
                user.is_staff = user.is_superuser = user.is_active = True
                user.set_password(password)
                user.save(update_fields=["password", "is_staff", "is_superuser", "is_active"])
            user.groups.add(Group.objects.get(name=ADMINISTRATOR))
            _write_secret(password_file, password)
        self.stdout.write(
            "\n"
            "  Social CRM is starting.\n"
            f"  Open   {url}\n"
            f"  User   {USERNAME}\n"
            f"  Pass   {password}\n"
            f"  (stored in {password_file}; Ctrl-C stops the server and the worker)\n"
        )


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only (created with mode 0600, never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    path.chmod(0o600)  # an older file keeps its mode through O_CREAT
