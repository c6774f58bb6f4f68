"""Configuration comes from environment variables only; a bad value stops start-up naming the variable.

The settings are evaluated the way a user meets them: ``manage.py`` or a fresh interpreter in a subprocess,
with a controlled environment (see tests/helpers/processes.py), against the real SQLite, PostgreSQL and Redis.
"""

from __future__ import annotations

import secrets
import signal
import sys
from pathlib import Path

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from config.env import ConfigError, Env
from tests.helpers.processes import (
    background,
    closed_port,
    free_port,
    get_status,
    manage,
    project_env,
    run_python,
    wait_until,
)
from tests.helpers.services import address_of, at_address, postgres_server_url, redis_test_url
from tests.helpers.site import prepared_site
from tests.helpers.tcp_proxy import TcpProxy

PRODUCTION_KEY = secrets.token_urlsafe(48)  # 64 characters
DEV_SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"


# --- The typed readers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), (" Yes ", True), ("ON", True), ("0", False), ("false", False), ("no", False)],
)
def test_flag_reads_the_usual_spellings(raw, expected):
    assert Env({"X": raw}).flag("X", not expected) is expected


def test_flag_missing_or_empty_keeps_the_default():
    assert Env({}).flag("X", True) is True
    assert Env({"X": ""}).flag("X", True) is True  # a blank line in a compose file must not turn a default off
    assert Env({"X": "  "}).flag("X", False) is False


def test_flag_refuses_anything_else_naming_the_variable():
    with pytest.raises(ConfigError) as caught:
        Env({"DEBUG": "maybe"}).flag("DEBUG", False)
    assert caught.value.name == "DEBUG"
    assert str(caught.value).startswith("DEBUG: ")
    assert "'maybe'" in str(caught.value)
    assert isinstance(caught.value, ImproperlyConfigured)


def test_integer_reads_defaults_and_refuses_bad_values():
    env = Env({"Q_WORKERS": " 4 ", "EMPTY": "", "WORD": "four", "ZERO": "0"})
    assert env.integer("Q_WORKERS", 2, minimum=1) == 4
    assert env.integer("EMPTY", 2) == 2
    assert env.integer("MISSING", 7) == 7
    with pytest.raises(ConfigError, match=r"^WORD: expected a whole number, got 'four'$"):
        env.integer("WORD", 1)
    with pytest.raises(ConfigError, match=r"^ZERO: must be at least 1, got 0$"):
        env.integer("ZERO", 1, minimum=1)


def test_text_items_and_choice():
    env = Env({"NAME": "  crm  ", "BLANK": "   ", "HOSTS": " a.example, ,b.example,", "LEVEL": "LOUD"})
    assert env.text("NAME") == "crm"
    assert env.text("BLANK", "fallback") == "fallback"
    assert env.is_set("NAME") and not env.is_set("BLANK") and not env.is_set("MISSING")
    assert env.items("HOSTS", ["x"]) == ["a.example", "b.example"]
    assert env.items("MISSING", ["x"]) == ["x"]
    assert env.choice("MISSING", "INFO", {"INFO", "DEBUG"}) == "INFO"
    with pytest.raises(ConfigError, match=r"^LEVEL: expected one of DEBUG, INFO, got 'LOUD'$"):
        env.choice("LEVEL", "INFO", {"INFO", "DEBUG"})


def test_env_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("SCRM_TEST_FLAG", "on")
    assert Env().flag("SCRM_TEST_FLAG", False) is True


# --- Start-up refuses bad values ---------------------------------------------------------------------

BAD_VALUES = [
    ("DEBUG", {"DEBUG": "maybe"}),
    ("DATABASE_URL", {"DATABASE_URL": "mysql://crm:secret@127.0.0.1:3306/crm"}),
    ("DATABASE_URL", {"DATABASE_URL": "postgres://crm@127.0.0.1:notaport/crm"}),
    ("DATABASE_URL", {"DATABASE_URL": "postgres://crm@127.0.0.1:5432"}),  # no database name
    ("DATABASE_URL", {"DATABASE_URL": "sqlite://"}),  # in memory: web server and worker would not share it
    ("REDIS_URL", {"REDIS_URL": "http://127.0.0.1:6379/0"}),
    ("REDIS_URL", {"REDIS_URL": "redis://127.0.0.1:notaport/0"}),
    ("REDIS_URL", {"REDIS_URL": "redis://127.0.0.1:6379/queue"}),
    ("Q_WORKERS", {"Q_WORKERS": "many"}),
    ("Q_WORKERS", {"Q_WORKERS": "0"}),
    ("Q_TIMEOUT", {"Q_TIMEOUT": "2m"}),
    ("EMAIL_PORT", {"EMAIL_PORT": "smtp"}),
    ("EMAIL_USE_SSL", {"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}),
    ("LOG_LEVEL", {"LOG_LEVEL": "LOUD"}),
    ("WEBHOOK_LOG_RETENTION_DAYS", {"WEBHOOK_LOG_RETENTION_DAYS": "0"}),
    ("CSRF_TRUSTED_ORIGINS", {"CSRF_TRUSTED_ORIGINS": "crm.example.com"}),
    ("SECRET_KEY", {"SCRM_PRODUCTION": "true", "ALLOWED_HOSTS": "crm.example.com"}),
    ("SECRET_KEY", {"SCRM_PRODUCTION": "true", "ALLOWED_HOSTS": "crm.example.com", "SECRET_KEY": DEV_SECRET_KEY}),
    ("SECRET_KEY", {"SCRM_PRODUCTION": "true", "ALLOWED_HOSTS": "crm.example.com", "SECRET_KEY": "short-secret"}),
    ("SECRET_KEY", {"SCRM_PRODUCTION": "true", "ALLOWED_HOSTS": "crm.example.com", "SECRET_KEY": "ab" * 40}),
    (
        "DEBUG",
        {"SCRM_PRODUCTION": "true", "ALLOWED_HOSTS": "crm.example.com", "SECRET_KEY": PRODUCTION_KEY, "DEBUG": "1"},
    ),
    ("ALLOWED_HOSTS", {"SCRM_PRODUCTION": "true", "SECRET_KEY": PRODUCTION_KEY}),
    ("SCRM_PRODUCTION", {"SCRM_PRODUCTION": "prod"}),
]


@pytest.mark.parametrize(
    ("variable", "environment"), BAD_VALUES, ids=[f"{v}-{i}" for i, (v, _) in enumerate(BAD_VALUES)]
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, variable, environment):
    done = manage("check", env=project_env(tmp_path, **environment), timeout=30)
    assert done.returncode != 0
    assert f"Configuration error: {variable}: " in done.stderr
    assert "Traceback" not in done.stderr  # a plain message, not a stack trace
    if variable == "EMAIL_USE_SSL":
        assert "EMAIL_USE_TLS" in done.stderr


def test_secrets_in_a_refused_url_are_not_printed(tmp_path):
    done = manage("check", env=project_env(tmp_path, REDIS_URL="redis://:hunter2-secret@127.0.0.1:bad/0"), timeout=30)
    assert "Configuration error: REDIS_URL: " in done.stderr
    assert "hunter2-secret" not in done.stderr


def test_production_mode_passes_the_deploy_check(tmp_path):
    env = project_env(tmp_path, SCRM_PRODUCTION="true", SECRET_KEY=PRODUCTION_KEY, ALLOWED_HOSTS="crm.example.com")
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=env, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_the_deploy_check_fails_outside_production_mode(tmp_path):
    """The switch is what makes the deploy check pass (HSTS, secure cookies, SSL redirect, a real key)."""
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=project_env(tmp_path), timeout=30)
    assert done.returncode != 0
    for check in ("security.W004", "security.W008", "security.W009", "security.W012", "security.W016"):
        assert check in done.stderr


# --- Which database, queue and cache the variables select --------------------------------------------

# Reads the settings as Django and django-q2 see them; without django.setup(), which would cost a second each.
PROBE = """
import json
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django_q.conf import Conf
db = connection.settings_dict  # with the defaults Django fills in
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "conn_max_age": db["CONN_MAX_AGE"],
    "health_checks": db["CONN_HEALTH_CHECKS"], "driver": connection.Database.__name__,
    "q_orm": settings.Q_CLUSTER.get("orm"), "q_redis": settings.Q_CLUSTER.get("redis"),
    "q_conf": [Conf.ORM, Conf.REDIS], "cache": type(caches["default"]).__name__,
    "debug": settings.DEBUG, "production": settings.PRODUCTION, "email": settings.EMAIL_BACKEND,
}))
"""


def test_embedded_default_is_sqlite_under_the_var_dir_and_the_orm_broker(tmp_path):
    probe = run_python(PROBE, env=project_env(tmp_path))
    assert probe["engine"] == "django.db.backends.sqlite3"
    assert Path(probe["name"]) == tmp_path / "db.sqlite3"
    assert probe["q_orm"] == "default" and probe["q_redis"] is None
    assert probe["q_conf"] == ["default", {}]  # django-q's own reading: ORM broker, no Redis
    assert probe["cache"] == "DatabaseCache"
    assert probe["debug"] is False and probe["production"] is False
    assert probe["email"] == "django.core.mail.backends.console.EmailBackend"


def test_database_url_selects_postgresql_through_psycopg3_with_reused_connections(tmp_path):
    probe = run_python(PROBE, env=project_env(tmp_path, DATABASE_URL="postgres://crm:pw@db.internal:5432/crm"))
    assert probe["engine"] == "django.db.backends.postgresql"
    assert probe["name"] == "crm"
    assert probe["driver"] == "psycopg"  # psycopg 3; psycopg2 would be "psycopg2"
    assert probe["conn_max_age"] > 0
    assert probe["health_checks"] is True
    assert probe["q_conf"] == ["default", {}]  # the queue stays on the database until REDIS_URL says otherwise


def test_database_url_may_name_a_sqlite_file(tmp_path):
    probe = run_python(PROBE, env=project_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/other.sqlite3"))
    assert probe["engine"] == "django.db.backends.sqlite3"
    assert probe["name"] == f"{tmp_path}/other.sqlite3"


def test_redis_url_moves_the_queue_and_the_cache_to_redis(tmp_path):
    probe = run_python(PROBE, env=project_env(tmp_path, REDIS_URL="redis://cache.internal:6379/2"))
    assert probe["q_redis"] == "redis://cache.internal:6379/2" and probe["q_orm"] is None
    assert probe["q_conf"] == [None, "redis://cache.internal:6379/2"]
    assert probe["cache"] == "RedisCache"
    assert probe["engine"] == "django.db.backends.sqlite3"


def test_email_host_selects_smtp(tmp_path):
    probe = run_python(PROBE, env=project_env(tmp_path, EMAIL_HOST="smtp.example.com"))
    assert probe["email"] == "django.core.mail.backends.smtp.EmailBackend"


# --- PostgreSQL for real: connections are reused, and replaced when the server dropped them ------------

# django.db connects close_old_connections to the request signals on import: no django.setup() needed.
BACKEND_PIDS = """
import json
from django.core.signals import request_finished, request_started
from django.db import connection
pids = []
for _ in range(2):  # two requests, as the handler frames them
    request_started.send(sender=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pids.append(cursor.fetchone()[0])
    request_finished.send(sender=None)
print(json.dumps({"pids": pids, "vendor": connection.vendor}))
"""


def test_postgresql_connection_is_reused_across_requests(tmp_path):
    url = postgres_server_url()
    reused = run_python(BACKEND_PIDS, env=project_env(tmp_path, DATABASE_URL=url))
    assert reused["vendor"] == "postgresql"
    assert reused["pids"][0] == reused["pids"][1]
    fresh = run_python(BACKEND_PIDS, env=project_env(tmp_path, DATABASE_URL=url, DB_CONN_MAX_AGE="0"))
    assert fresh["pids"][0] != fresh["pids"][1]


def test_a_dropped_postgresql_connection_costs_no_failed_request(tmp_path):
    """A database restart cuts the web worker's persistent connection; the health check replaces it before the
    next request uses it. gunicorn's sync worker keeps one connection, as in production."""
    server = postgres_server_url()
    proxy = TcpProxy(address_of(server))
    proxy.start()
    try:
        url = at_address(server, proxy.port)
        port = free_port()
        # The queue on a closed Redis port: its errors are not database errors, which would make Django
        # test the connection at the next request even without health checks (the ORM broker's would).
        env = project_env(tmp_path, DATABASE_URL=url, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "config.wsgi"]
        with background(command, env=env, log_dir=tmp_path, name="gunicorn") as web:
            healthz = f"http://127.0.0.1:{port}/healthz"
            wait_until(lambda: web.ensure_running() and get_status(healthz) == 200, timeout=20, what="gunicorn")
            proxy.drop_connections()
            assert get_status(healthz) == 200, web.output()
            proxy.stop()
            assert get_status(healthz) == 503
            proxy.start()  # the same port again: the database is back
            assert get_status(healthz) == 200, web.output()
    finally:
        proxy.stop()


# --- Redis for real: the broker holds the task, the worker runs it ------------------------------------

ENQUEUE = """
import json, django
django.setup()
from django_q.brokers import get_broker
from django_q.tasks import async_task
task_id = async_task("math.factorial", 10)
broker = get_broker()
print(json.dumps({"task_id": task_id, "broker": type(broker).__name__, "queued": broker.queue_size()}))
"""

AWAIT_RESULT = """
import json, sys, time, django
django.setup()
from django.test import Client
from django_q.tasks import fetch
task = fetch(sys.argv[1], wait=15000)
deadline, health = time.monotonic() + 10, None
while time.monotonic() < deadline:
    health = Client().get("/healthz").json()
    if health["task_queue"].get("workers"):
        break
    time.sleep(0.3)
print(json.dumps({"result": task and task.result, "success": task and task.success, "health": health}))
"""


def _django_q_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match="django_q:scrm:*"))


def test_redis_url_runs_tasks_through_redis(tmp_path, tmp_path_factory):
    url = redis_test_url()
    client = redis.Redis.from_url(url)
    site = prepared_site(tmp_path_factory)
    # Q_SAVE_LIMIT: keep successful results (the product does not) so the test can fetch the task's result.
    env = project_env(site.var_dir, REDIS_URL=url, Q_SAVE_LIMIT="250")
    # Another run of this suite on the machine (CI and a developer, two checkouts) uses the same queue key in
    # the same Redis database: its worker would take this task. The lock makes such runs take turns.
    with client.lock("scrm-tests:redis-broker", timeout=120, blocking_timeout=120):
        for key in _django_q_keys(client):  # only the queue's own keys, not the whole database
            client.delete(key)
        try:
            enqueued = run_python(ENQUEUE, env=env)
            assert enqueued["broker"] == "Redis"
            assert enqueued["queued"] == 1
            assert client.llen("django_q:scrm:q") == 1  # seen in Redis itself, not only through django-q
            command = [sys.executable, "manage.py", "qcluster"]
            with background(command, env=env, log_dir=tmp_path, name="qcluster") as worker:
                done = run_python(AWAIT_RESULT, enqueued["task_id"], env=env, timeout=40)
                worker.ensure_running()
                worker.proc.send_signal(signal.SIGINT)
                assert worker.proc.wait(timeout=15) == 0, worker.output()
            assert done["success"] is True, worker.output()
            assert done["result"] == 3628800
            assert client.llen("django_q:scrm:q") == 0
            health = done["health"]
            assert health["status"] == "ok"
            assert health["task_queue"]["broker"] == "redis"
            assert health["task_queue"]["workers"] >= 1
        finally:
            for key in _django_q_keys(client):
                client.delete(key)
