"""The partner REST API (``/api/v1/``): shared plumbing (keys, scopes, problems, cursors, idempotency, ETags,
rate limits) in public modules that other apps' resources reuse, and the CRM resources themselves."""
