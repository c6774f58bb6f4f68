"""Settings for the ingest benchmark's second baseline: the baseline endpoint answered where the webhooks are,
before the session, auth, CSRF and audit middleware (``bench.baseline_urls.HitMiddleware`` in the place of
``social.middleware.WebhookMiddleware``), writing to its own table.
"""

from bench.baseline_settings import *  # noqa: F403
from bench.baseline_settings import MIDDLEWARE

BENCH_BASELINE_TABLE = "bench_baseline_hit_bare"
MIDDLEWARE = [
    "bench.baseline_urls.HitMiddleware" if name == "social.middleware.WebhookMiddleware" else name
    for name in MIDDLEWARE
]
