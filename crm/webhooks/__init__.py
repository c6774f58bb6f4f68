"""Outbound partner webhooks: subscriptions, events emitted after commit, signed deliveries with retries.

- ``events``: the event catalogue and ``webhook_event`` (services call it; ``signals`` covers plain saves);
- ``delivery``: one attempt (sign, POST, log), retries with backoff, disabling a failing subscription;
- ``subscriptions``: create, change, enable, redeliver (admin and API both call these);
- ``addresses``: which URLs may be called (no private addresses in production, checked again at send time).
"""
