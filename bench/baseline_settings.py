"""Settings for the ingest benchmark's baseline server: the project's settings, another URL conf.

Everything else (middleware, database, persistent connections, logging) is the project's own, so the
baseline pays what every request pays and the difference to the webhook is the webhook's own work.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baseline_urls"
