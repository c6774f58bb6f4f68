"""Resources a key can be given read or write access to. Apps add theirs with ``register_resource``."""

from __future__ import annotations

RESOURCES: dict[str, str] = {
    "contacts": "Contacts",
    "companies": "Companies",
    "interactions": "Interactions",
    "products": "Products",
    "orders": "Orders",
    "tags": "Tags",
    "webhooks": "Webhook subscriptions (the key's own account's)",
    "segments": "Segments (reading members also needs contacts:read)",
}
ACCESS = ("read", "write")


def register_resource(name: str, label: str) -> None:
    """Make ``name`` a scope resource (``<name>:read`` / ``<name>:write``), e.g. from an app's ``ready()``."""
    RESOURCES[name] = label


def scope_choices() -> list[tuple[str, str]]:
    return [
        (f"{name}:{access}", f"{label}: {'read and write' if access == 'write' else 'read'}")
        for name, label in RESOURCES.items()
        for access in ACCESS
    ]
