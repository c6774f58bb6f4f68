"""``make run``: set up (migrate, demo data, demo staff login), then serve the site and run the task worker
together until Ctrl-C stops both. Static files come from whitenoise, also with DEBUG off.

The end-to-end test runs the Makefile's steps through ``manage.py`` and ``python -m config.serve`` in
subprocesses; deselect it with ``-k "not end_to_end"`` when iterating on something else.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import Count, Sum

from crm.models import Company, Contact, Interaction, Order, OrderLine, Product, User
from tests.helpers.processes import (
    REPO_ROOT,
    background,
    children_of,
    command_line,
    free_port,
    get_json,
    get_status,
    is_alive,
    marked_env,
    processes_marked,
    project_env,
    wait_until,
)
from tests.helpers.site import prepared_site

# --- Demo data -----------------------------------------------------------------------------------------


def _demo_counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "companies": Company.all_objects.count(),
        "contacts": Contact.all_objects.count(),
        "interactions": Interaction.objects.count(),
        "orders": Order.objects.count(),
        "order_lines": OrderLine.objects.count(),
        "products": Product.objects.count(),
    }


def test_seed_demo_loads_a_realistic_data_set_once(db):
    first = StringIO()
    call_command("seed_demo", stdout=first)
    counts = _demo_counts()
    assert "Demo data loaded" in first.getvalue()
    assert counts["companies"] == 20
    assert counts["contacts"] == 200
    assert counts["interactions"] > 100
    assert counts["orders"] > 50
    assert counts["products"] > 0
    assert Contact.objects.filter(company__isnull=False).exists() and Contact.objects.filter(company=None).exists()

    # Every order has lines, and its total is the sum of them.
    orders = Order.objects.annotate(line_count=Count("lines"), lines_sum=Sum("lines__line_total"))
    assert not orders.filter(line_count=0).exists()
    mismatched = [(o.number, o.total, o.lines_sum) for o in orders if o.total != o.lines_sum]
    assert mismatched == []

    second = StringIO()
    call_command("seed_demo", stdout=second)
    assert "nothing added" in second.getvalue()
    assert _demo_counts() == counts


# The hash algorithm is not what these tests are about; the default one costs a second per password.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _login_from(output: str) -> tuple[str, str]:
    user = re.search(r"^\s*User\s+(\S+)\s*$", output, re.MULTILINE)
    password = re.search(r"^\s*Pass\s+(\S+)\s*$", output, re.MULTILINE)
    assert user and password, output
    return user.group(1), password.group(1)


def test_ensure_demo_staff_creates_the_admin_once_and_prints_a_working_login(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path  # the password file; never the real var/
    settings.PASSWORD_HASHERS = FAST_HASHERS
    out = StringIO()
    call_command("ensure_demo_staff", "--url", "http://127.0.0.1:8123/admin/", stdout=out)
    username, password = _login_from(out.getvalue())
    assert "http://127.0.0.1:8123/admin/" in out.getvalue()
    user = authenticate(username=username, password=password)
    assert user is not None and user.is_staff and user.is_superuser
    password_file = tmp_path / "demo-admin-password"
    assert password_file.read_text().strip() == password
    assert password_file.stat().st_mode & 0o777 == 0o600

    again = StringIO()
    call_command("ensure_demo_staff", stdout=again)
    assert _login_from(again.getvalue()) == (username, password)
    assert User.objects.filter(username=username).count() == 1
    assert authenticate(username=username, password=password) is not None


def test_ensure_demo_staff_prints_a_password_that_works_on_this_database(db, settings, tmp_path):
    """var/ outlives a database (DATABASE_URL switched, database recreated): the stored password is then
    another database's, and the account is given it rather than the printed login failing."""
    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = FAST_HASHERS
    call_command("ensure_demo_staff", stdout=StringIO())
    (tmp_path / "demo-admin-password").write_text("kept-from-another-database\n")
    out = StringIO()
    call_command("ensure_demo_staff", stdout=out)
    username, password = _login_from(out.getvalue())
    assert password == "kept-from-another-database"
    assert authenticate(username=username, password=password) is not None
    assert User.objects.filter(username=username).count() == 1


# --- Static files -----------------------------------------------------------------------------------


def test_static_files_are_served_with_debug_off(client):
    assert settings.DEBUG is False
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"".join(response.streaming_content)  # served by whitenoise, not a 404 page


# --- make run ---------------------------------------------------------------------------------------


def test_make_run_sets_up_before_it_serves():
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    done = subprocess.run(  # noqa: S603
        [make, "-n", "run"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    steps = [
        "manage.py migrate",
        "manage.py createcachetable",
        "manage.py collectstatic",
        "manage.py seed_demo",
        "manage.py seed_social_demo",
        "manage.py ensure_demo_staff",
        "-m config.serve",
    ]
    positions = [done.stdout.find(step) for step in steps]
    assert -1 not in positions, done.stdout
    assert positions == sorted(positions), done.stdout


def _sign_in_and_get(base: str, username: str, password: str, path: str) -> str:
    """Sign in through the login form as a browser does (CSRF cookie and token), then GET ``path``."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{base}/accounts/login/", timeout=10) as page:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
    assert token, "no CSRF token on the login page"
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), "login": username, "password": password})
    with opener.open(f"{base}/accounts/login/", data=form.encode(), timeout=10) as signed_in:
        assert urllib.parse.urlsplit(signed_in.url).path == "/admin/", signed_in.url
    with opener.open(f"{base}{path}", timeout=10) as page:
        return str(page.read().decode())


def _process_tree(pid: int) -> list[int]:
    tree, pending = [], [pid]
    while pending:
        children = children_of(pending.pop())
        tree.extend(children)
        pending.extend(children)
    return tree


def test_make_run_end_to_end_serves_with_the_worker_and_ctrl_c_stops_both(tmp_path, tmp_path_factory):
    site = prepared_site(tmp_path_factory)  # migrate, createcachetable, collectstatic, seed_demo, ensure_demo_staff
    assert "Demo data loaded" in site.outputs["seed_demo"].stdout
    _, password = _login_from(site.outputs["ensure_demo_staff"].stdout)
    assert (site.var_dir / "demo-admin-password").read_text().strip() == password

    port = free_port()
    command = [sys.executable, "-m", "config.serve", "--port", str(port)]
    env, marker = marked_env(project_env(site.var_dir))
    with background(command, env=env, log_dir=tmp_path, name="serve") as serve:
        base = f"http://127.0.0.1:{port}"

        def worker_registered() -> dict[str, object] | None:
            serve.ensure_running()
            status, body = get_json(f"{base}/healthz")
            return body if status == 200 and body["task_queue"].get("workers", 0) >= 1 else None

        health = wait_until(worker_registered, timeout=20, what="the site with a registered worker")
        assert health["status"] == "ok"
        assert health["database"] == {"ok": True, "vendor": "sqlite"}
        assert get_status(f"{base}/static/admin/css/base.css") == 200  # whitenoise, DEBUG off
        contacts_page = _sign_in_and_get(base, "admin", password, "/admin/crm/contact/")
        # The printed login works, and the demo data is there: 200 CRM contacts and the 4 web chat visitors.
        assert "204 contacts" in contacts_page
        inbox = _sign_in_and_get(base, "admin", password, "/admin/social/conversation/")
        assert "4 conversations" in inbox

        children = children_of(serve.pid)
        names = sorted(command_line(pid) for pid in children)
        assert len(children) == 2, names
        assert "manage.py qcluster" in names[0] and "manage.py runserver" in names[1], names
        tree = _process_tree(serve.pid)  # the worker's own processes too

        os.killpg(serve.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        assert serve.proc.wait(timeout=15) == 0, serve.output()
        assert "Stopped web server and task worker." in serve.output()
        assert "did not stop in time" not in serve.output()
        wait_until(lambda: not any(is_alive(pid) for pid in tree), timeout=5, what="every child to exit")
        assert processes_marked(marker) == []


def test_serve_stops_both_on_sigterm_even_when_started_with_sigint_ignored(tmp_path, tmp_path_factory):
    """``make run &`` from a script, or nohup, starts with SIGINT ignored; serve must still stop its children."""
    site = prepared_site(tmp_path_factory)
    port = free_port()
    command = [sys.executable, "-m", "config.serve", "--port", str(port)]
    env, marker = marked_env(project_env(site.var_dir))
    ignore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731
    with background(command, env=env, log_dir=tmp_path, name="serve", preexec_fn=ignore_sigint) as serve:
        wait_until(
            lambda: serve.ensure_running() and get_status(f"http://127.0.0.1:{port}/healthz") == 200,
            timeout=20,
            what="the site",
        )
        tree = _process_tree(serve.pid)
        serve.proc.send_signal(signal.SIGTERM)  # to serve only, as `kill <pid>` does
        assert serve.proc.wait(timeout=10) == 0, serve.output()
        assert "did not stop in time" not in serve.output()
        wait_until(lambda: not any(is_alive(pid) for pid in tree), timeout=5, what="every child to exit")
        assert processes_marked(marker) == []


def test_serve_fails_and_stops_the_worker_when_the_web_server_cannot_start(tmp_path, tmp_path_factory):
    site = prepared_site(tmp_path_factory)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "config.serve", "--port", str(port)]
        env, marker = marked_env(project_env(site.var_dir))
        with background(command, env=env, log_dir=tmp_path, name="serve") as serve:
            assert serve.proc.wait(timeout=25) == 1, serve.output()
            assert "The web process ended by itself" in serve.output()
            assert "That port is already in use" in serve.output()
            wait_until(lambda: processes_marked(marker) == [], timeout=5, what="the worker to exit")
