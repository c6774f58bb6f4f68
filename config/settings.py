"""Settings for the Social CRM: one file, every knob read from the environment.

The embedded default (no variables set) runs on a SQLite file under ``var/`` with django-q2 on its ORM
broker, so a fresh clone starts with nothing but Python. README lists every variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url

from config.env import ConfigError, Env

env = Env()
BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.text("SCRM_VAR_DIR", str(BASE_DIR / "var")))

# --- Modes -------------------------------------------------------------------------------------------
PRODUCTION = env.flag("SCRM_PRODUCTION", False)
DEBUG = env.flag("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ConfigError("DEBUG", "must be off when SCRM_PRODUCTION is on")

DEV_SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"  # noqa: S105 - refused in production
SECRET_KEY = env.text("SECRET_KEY", DEV_SECRET_KEY)
if PRODUCTION and (SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
    raise ConfigError(
        "SECRET_KEY",
        "production needs a random value of at least 50 characters (not the development default); "
        "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'",
    )

ALLOWED_HOSTS = env.items("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ConfigError("ALLOWED_HOSTS", "production needs the host names the site is served under")
CSRF_TRUSTED_ORIGINS = env.items("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ConfigError("CSRF_TRUSTED_ORIGINS", f"each origin needs a scheme (https://…), got {_origin!r}")

# --- Applications ------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "auditlog",
    "django_filters",
    "django_q",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crm",
    "social",
    "routing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.health.HealthzMiddleware",  # before sessions: /healthz must answer 503, not 500, with the DB down
    # Answers /webhooks/<key>/ itself: provider POSTs carry no session, user or CSRF token and write no audited
    # row, so none of the middleware below runs for them (social/middleware.py). What they need goes above.
    "social.middleware.WebhookMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "config.middleware.RequireStaffTwoFactorMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "crm.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------------
_SUPPORTED_DB_SCHEMES = {"postgres", "postgresql", "pgsql", "sqlite"}


def _database(url: str) -> dict[str, Any]:
    scheme = urlsplit(url).scheme
    if scheme not in _SUPPORTED_DB_SCHEMES:
        raise ConfigError("DATABASE_URL", f"unsupported scheme {scheme!r}; use postgres://… or sqlite:///…")
    try:
        # Persistent connections with a health check: reused across requests, replaced when the server
        # dropped them (a restarted PostgreSQL must not cost one failed request per worker).
        config: dict[str, Any] = dict(
            dj_database_url.parse(
                url, conn_max_age=env.integer("DB_CONN_MAX_AGE", 600, minimum=0), conn_health_checks=True
            )
        )
    except ValueError as exc:
        raise ConfigError("DATABASE_URL", str(exc)) from None
    # Both would only fail later, at the first query, far from the variable that caused it: an in-memory
    # SQLite database is a different, empty one in the web server and in the worker.
    if not config["NAME"] or config["NAME"] == ":memory:":
        raise ConfigError("DATABASE_URL", "name the database: postgres://user@host:5432/<name> or sqlite:////<path>")
    if config["ENGINE"].endswith("sqlite3"):
        config.update(_sqlite_options())
    return config


def _sqlite_options() -> dict[str, Any]:
    # The web server and the task worker write to the same file: WAL lets readers run beside the writer,
    # and IMMEDIATE transactions take the write lock up front so two writers queue instead of failing with
    # "database is locked" half-way through a transaction.
    return {
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        },
    }


if env.is_set("DATABASE_URL"):
    DATABASES = {"default": _database(env.text("DATABASE_URL"))}
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "db.sqlite3"), **_sqlite_options()}
    }
DATABASES["default"]["TEST"] = {"NAME": env.text("TEST_DATABASE_NAME")} if env.is_set("TEST_DATABASE_NAME") else {}

# --- Cache, task queue -------------------------------------------------------------------------------


def _redis_url(url: str) -> str:
    """``url`` if redis-py can use it: checked here because the cache and the worker would only fail at their
    first use. The messages leave the URL out, as it may hold a password."""
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError("REDIS_URL", f"expected redis://host:port/<db number>, got scheme {parts.scheme!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError when the port is not a number
    except ValueError:
        raise ConfigError("REDIS_URL", "the port is not a number") from None
    database = parts.path.strip("/")
    if parts.scheme != "unix" and database and not database.isdigit():
        raise ConfigError("REDIS_URL", f"the database must be a number (redis://host:port/0), got {database!r}")
    return url


REDIS_URL = _redis_url(env.text("REDIS_URL")) if env.is_set("REDIS_URL") else ""

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A database cache rather than a per-process memory cache: login rate limits and the task
    # cluster's statistics must be shared by the web server and the worker.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "scrm_cache"}}

Q_CLUSTER: dict[str, Any] = {
    "name": "scrm",
    "workers": env.integer("Q_WORKERS", 2, minimum=1),
    "timeout": env.integer("Q_TIMEOUT", 120, minimum=1),
    # retry must exceed timeout, otherwise a slow task is handed out twice while still running.
    "retry": env.integer("Q_TIMEOUT", 120, minimum=1) + 60,
    "max_attempts": env.integer("Q_MAX_ATTEMPTS", 5, minimum=1),
    # -1: successful results are not stored (the product's own rows record every outcome; failures are kept).
    # Any positive limit makes the monitor count and prune the results table after every task, which cost
    # more than a third of the worker's time in bench/webhook_ingest.py.
    "save_limit": env.integer("Q_SAVE_LIMIT", -1, minimum=-1),
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.5,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth and staff access ---------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/admin/"
ACCOUNT_ADAPTER = "config.auth.StaffAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_RATE_LIMITS = {
    # Failed logins: 10 a minute from one address, and 5 per 5 minutes for one account.
    "login_failed": env.text("LOGIN_FAILED_RATE_LIMIT", "10/m/ip,5/300s/key"),
    "login": "30/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.text("MFA_TOTP_ISSUER", "Social CRM")
STAFF_REQUIRE_2FA = env.flag("STAFF_REQUIRE_2FA", False)

# --- Audit trail -------------------------------------------------------------------------------------
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False

# --- Email -------------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.text("DEFAULT_FROM_EMAIL", "Social CRM <crm@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = env.text("EMAIL_HOST")
EMAIL_PORT = env.integer("EMAIL_PORT", 587 if EMAIL_HOST else 25, minimum=1)
EMAIL_HOST_USER = env.text("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.text("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.flag("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env.flag("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ConfigError("EMAIL_USE_SSL", "EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
EMAIL_TIMEOUT = env.integer("EMAIL_TIMEOUT", 10, minimum=1)
# Without a mail server the messages (password resets included) are printed where `make run` runs.
EMAIL_BACKEND = env.text(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)

# --- Locale, static ----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.text("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
PHONE_DEFAULT_REGION = env.text("PHONE_DEFAULT_REGION", "US").upper()

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
# Outside production, whitenoise also serves straight from the app folders, so a checkout works
# (with DEBUG off too) before `collectstatic` has run.
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Security ----------------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
if env.flag("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.flag("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.flag("SECURE_HSTS_PRELOAD", True)

# --- REST framework (the partner API builds on these) ------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Every API error as application/problem+json (RFC 9457); the partner views set the rest (crm.api.base).
    "EXCEPTION_HANDLER": "crm.api.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Social CRM partner API",
    "DESCRIPTION": "Sync contacts and companies: cursor pagination, deletions feeds, upsert by external id, "
    "Idempotency-Key, ETag/If-Match. Authenticate with `Authorization: Bearer <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page loads Swagger UI from our static files (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several resources have a "status" of their own; each choice set gets its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "social.models.Conversation.Status",
        "MessageStatusEnum": "social.models.Message.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crm.api.schema.add_response_headers",
    ],
}


def _rate(name: str, value: str) -> str:
    count, _, period = value.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in {"second", "minute", "hour", "day", "s", "m", "h", "d"}:
        raise ConfigError(name, f"expected <requests>/<second|minute|hour|day>, e.g. 1200/minute, got {value!r}")
    return value


# Requests per API key (per user for staff sessions).
API_RATE_LIMIT = _rate("API_RATE_LIMIT", env.text("API_RATE_LIMIT", "1200/minute"))
# Deletions feeds list soft-deleted records for this many days.
API_TOMBSTONE_RETENTION_DAYS = env.integer("API_TOMBSTONE_RETENTION_DAYS", 30, minimum=1)
# Lists leave out rows changed in the last N seconds, so a transaction still committing cannot be skipped by a
# cursor that already passed its timestamp (see crm.api.pagination).
API_SYNC_SETTLE_SECONDS = env.integer("API_SYNC_SETTLE_SECONDS", 2, minimum=0)

# --- Outbound partner webhooks (crm.webhooks; README "Webhooks") ------------------------------------
# Seconds a partner's endpoint may take to connect and answer.
WEBHOOK_TIMEOUT = env.integer("WEBHOOK_TIMEOUT", 10, minimum=1)
# A failed delivery is retried after 1 min, doubling, at most WEBHOOK_RETRY_MAX_SECONDS apart, until it has
# been failing for WEBHOOK_RETRY_HOURS (at least 24: partners are promised a day to recover).
WEBHOOK_RETRY_FIRST_SECONDS = env.integer("WEBHOOK_RETRY_FIRST_SECONDS", 60, minimum=1)
WEBHOOK_RETRY_MAX_SECONDS = env.integer("WEBHOOK_RETRY_MAX_SECONDS", 3600, minimum=1)
WEBHOOK_RETRY_HOURS = env.integer("WEBHOOK_RETRY_HOURS", 24, minimum=24)
# A subscription whose attempts have all failed for this long is disabled and its owner e-mailed.
WEBHOOK_DISABLE_AFTER_HOURS = env.integer("WEBHOOK_DISABLE_AFTER_HOURS", 24, minimum=1)
# Fernet key for the stored signing secrets; empty: derived from SECRET_KEY (set it in production).
WEBHOOK_SECRETS_KEY = env.text("WEBHOOK_SECRETS_KEY")
# Finished deliveries (delivered or given up) and their attempt logs are deleted this many days after their
# last activity (a daily schedule, crm.webhooks.retention); deliveries still being retried are kept.
WEBHOOK_LOG_RETENTION_DAYS = env.integer("WEBHOOK_LOG_RETENTION_DAYS", 30, minimum=1)

# --- Logging -----------------------------------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.security": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
