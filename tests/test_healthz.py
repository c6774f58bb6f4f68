"""``GET /healthz``: 200 with the database and task-queue state; 503 when the database is unreachable.

The unreachable cases are real: servers in subprocesses whose database or Redis port is closed, or taken
away by a relay while they run.
"""

from __future__ import annotations

import sys

import pytest
from django.conf import settings
from django.db import connection
from django_q.tasks import async_task

from tests.helpers.processes import (
    background,
    closed_port,
    free_port,
    get_json,
    project_env,
    run_python,
    wait_until,
)
from tests.helpers.services import address_of, at_address, postgres_server_url
from tests.helpers.tcp_proxy import TcpProxy

SESSION_COOKIE = {"Cookie": "sessionid=0123456789abcdefghijklmnopqrstuv"}  # what a signed-in browser sends


def test_healthz_names_the_database_and_the_task_queue(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]  # a proxy must not answer for a database that is gone
    assert response.json() == {
        "status": "ok",
        "database": {"ok": True, "vendor": connection.vendor},
        "task_queue": {"ok": True, "broker": "redis" if settings.REDIS_URL else "orm", "queued": 0, "workers": 0},
    }


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="counts the ORM broker's queue in the test database")
def test_healthz_counts_queued_tasks(client, db):
    async_task("math.factorial", 5)
    async_task("math.factorial", 6)
    assert client.get("/healthz").json()["task_queue"]["queued"] == 2


def test_healthz_answers_get_only(client, db):
    assert client.post("/healthz").status_code == 405


def test_healthz_is_503_when_the_database_is_unreachable_from_the_start(tmp_path):
    """gunicorn (the production server) with nothing listening on the database port.

    ``runserver`` cannot be used for this case: it reads the migration table before it serves, so it does
    not start at all without its database; see the next test for the running-server case.
    """
    env = project_env(tmp_path, DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port()}/none")
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "config.wsgi"]
    with background(command, env=env, log_dir=tmp_path, name="gunicorn") as web:
        healthz = f"http://127.0.0.1:{port}/healthz"
        status, body = wait_until(lambda: web.ensure_running() and get_json(healthz), timeout=20, what="gunicorn")
        assert status == 503
        assert body == {
            "status": "down",
            "database": {"ok": False, "vendor": "postgresql", "error": "OperationalError"},
            "task_queue": {"ok": False, "broker": "orm", "error": "database unreachable"},
        }
        # A staff member's browser sends its session cookie; reading the session must not turn this into a 500.
        assert get_json(healthz, headers=SESSION_COOKIE)[0] == 503


def test_healthz_under_make_runs_server_follows_the_database_down_and_back(tmp_path):
    """``runserver`` (what ``make run`` serves with) on PostgreSQL behind a relay that the test cuts."""
    server = postgres_server_url()
    proxy = TcpProxy(address_of(server))
    proxy.start()
    try:
        database_url = at_address(server, proxy.port)
        port = free_port()
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
        env = project_env(tmp_path, DATABASE_URL=database_url)
        with background(command, env=env, log_dir=tmp_path, name="runserver") as web:
            healthz = f"http://127.0.0.1:{port}/healthz"
            status, body = wait_until(lambda: web.ensure_running() and get_json(healthz), timeout=20, what="runserver")
            assert status == 200, body
            assert body["database"] == {"ok": True, "vendor": "postgresql"}

            proxy.stop()
            status, body = get_json(healthz)
            assert status == 503
            assert body["status"] == "down"
            assert body["database"]["ok"] is False
            assert get_json(healthz, headers=SESSION_COOKIE)[0] == 503

            proxy.start()
            status, body = get_json(healthz)
            assert status == 200, web.output()
            assert body["database"]["ok"] is True
    finally:
        proxy.stop()


HEALTHZ_IN_PROCESS = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/healthz")
print(json.dumps({"status_code": response.status_code, "body": response.json()}))
"""


def test_healthz_is_degraded_but_200_when_only_redis_is_unreachable(tmp_path):
    env = project_env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    answer = run_python(HEALTHZ_IN_PROCESS, env=env)
    assert answer["status_code"] == 200
    assert answer["body"] == {
        "status": "degraded",
        "database": {"ok": True, "vendor": "sqlite"},
        "task_queue": {"ok": False, "broker": "redis", "error": "ConnectionError"},
    }


def test_healthz_still_checks_the_host_header(client, db):
    assert client.get("/healthz", headers={"host": "evil.example"}).status_code == 400
