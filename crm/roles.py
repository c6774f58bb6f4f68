"""Staff roles as groups: Administrator, Manager, Agent, Read-only.

A data migration creates the groups; ``sync_roles`` also runs after every ``migrate`` so that models added
by later migrations (social, routing) get their permissions in each role without a new migration.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.db.models.signals import post_migrate

ADMINISTRATOR = "Administrator"
MANAGER = "Manager"
AGENT = "Agent"
READ_ONLY = "Read-only"
ROLES = (ADMINISTRATOR, MANAGER, AGENT, READ_ONLY)

# Apps whose records the roles cover (the product's own domain apps).
DOMAIN_APPS = ("crm", "social", "routing")
# Agents view and edit these, but never delete, import or merge. Changing a conversation is answering it:
# replying, notes, assigning, resolving and snoozing.
AGENT_EDITS = {
    "contact",
    "contactemail",
    "contactphone",
    "contactconsent",
    "company",
    "interaction",
    "tag",
    "conversation",
}
# Partners' webhook subscriptions and their delivery logs: set up with the partner's account and keys.
WEBHOOK_MODELS = {"webhooksubscription", "webhookdelivery", "webhookattempt"}
# Records only administrators change (who may do what, and how the product is set up).
ADMIN_ONLY_MODELS = {"attributedefinition", "user", "apikey", *WEBHOOK_MODELS}
# Sign-in accounts (staff and the partners' API users): user management. Managers may look them up;
# agents and read-only staff do not see them at all.
ACCOUNT_MODELS = {"user", "apikey", *WEBHOOK_MODELS}
# Lists behind other permissions (restore_contact, restore_company), never granted directly.
SKIPPED_MODELS = {"deletedcontact", "deletedcompany", "idempotencyrecord"}


def role_permissions(role: str, permissions: list[Any]) -> list[Any]:
    """The subset of ``permissions`` (auth ``Permission`` rows with content_type loaded) a role gets."""
    chosen = []
    for perm in permissions:
        app, model = perm.content_type.app_label, perm.content_type.model
        action = perm.codename.split("_", 1)[0]
        if role == ADMINISTRATOR:
            chosen.append(perm)
        elif app not in DOMAIN_APPS or model in SKIPPED_MODELS:
            continue
        elif role == READ_ONLY:
            if action == "view" and model not in ACCOUNT_MODELS:
                chosen.append(perm)
        elif role == MANAGER:
            if model not in ADMIN_ONLY_MODELS or action == "view":
                chosen.append(perm)
        elif (
            role == AGENT
            and model not in ACCOUNT_MODELS
            and (action == "view" or (model in AGENT_EDITS and action in {"add", "change"}))
        ):
            chosen.append(perm)
    return chosen


def sync_roles(apps: Any = global_apps, **_: Any) -> None:
    """Create the role groups if missing and give each exactly its permissions."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    permissions = list(permission_model.objects.select_related("content_type"))
    for role in ROLES:
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role, permissions))


def _after_migrate(sender: Any, **kwargs: Any) -> None:
    sync_roles(kwargs.get("apps") or global_apps)


def connect_post_migrate() -> None:
    post_migrate.connect(_after_migrate, dispatch_uid="crm.roles.sync")
