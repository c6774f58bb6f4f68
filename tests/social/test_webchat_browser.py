"""Web chat end to end in a real browser: Debian's Chromium driven by Playwright.

A shop page on its own loopback origin embeds the widget with one tag; the CRM runs as pytest-django's
``live_server``. The visitor writes, the message reaches the staff conversation (processed by a task worker
thread, after the commit, as django-q would), an agent answers on the conversation's admin page, and the
visitor's widget shows the answer within seconds. A page on an origin the channel does not allow gets nothing.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``): skipped without it, except under CI, where a
missing browser fails the run.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from crm.models import User
from social.models import Channel, Conversation, InboundEvent, Message
from social.services.channels import channel_create, channel_update_settings
from social.services.queue import drain_flag_clear
from tests.social.conftest import _call

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
QUESTION = "Hello, do you ship to Lisbon?"
MARKUP = '<b>bold</b><script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'
ANSWER = "Yes, we ship to Lisbon <i>in 3 days</i>."
TIMEOUT_MS = 5000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the browser tests)")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; Django refuses database calls from a thread
    # with a running loop unless told that this is safe (it is: nothing here runs on that loop).
    unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield instance
            finally:
                instance.close()
    finally:
        if unsafe is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = unsafe


@pytest.fixture
def serve_page() -> Iterator[Callable[[str], str]]:
    """A tiny web server on its own loopback origin (another port: another origin) serving one HTML page."""
    servers: list[ThreadingHTTPServer] = []

    def _serve(html: str) -> str:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield _serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def task_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Exception]]:
    """Tasks go to a worker thread when their transaction commits (the live server's request thread enqueues
    them on commit), like django-q's cluster. Yields the errors the tasks raised.

    SQLite's in-memory test database is one connection shared by the test and the live server; a third
    thread cannot use it safely, so there the task runs in the committing thread, right after the commit.
    """
    work: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()
    errors: list[Exception] = []
    stop = threading.Event()
    inline = connection.vendor == "sqlite" and connection.is_in_memory_db()

    def run(func: str, args: tuple[Any, ...]) -> None:
        try:
            _call(func, args)
        except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in the thread
            errors.append(exc)

    def worker() -> None:
        try:
            while not stop.is_set():
                try:
                    func, args = work.get(timeout=0.05)
                except queue.Empty:
                    continue
                run(func, args)
        finally:
            connection.close()  # this thread's own connection; the test database is dropped later

    def enqueue(func: str, *args: Any, **_options: Any) -> None:
        if inline:
            run(func, args)
        else:
            work.put((func, args))

    monkeypatch.setattr("social.services.queue.async_task", enqueue)
    drain_flag_clear()  # a drain request left by an earlier test would keep the visitor's messages waiting
    thread = threading.Thread(target=worker, name="webchat-task-worker", daemon=True)
    thread.start()
    yield errors
    stop.set()
    thread.join(timeout=5)


def shop_page(live_server_url: str, channel: Channel) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Acme Outdoor</title></head>"
        "<body><h1>Acme Outdoor shop</h1>"
        f'<script src="{live_server_url}/static/webchat/widget.js" data-channel="{channel.webhook_key}" async>'
        "</script></body></html>"
    )


def wait_for(condition: Callable[[], Any], timeout: float = TIMEOUT_MS / 1000) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_visitor_and_staff_chat_through_the_widget(
    browser: Any, live_server: Any, serve_page: Callable[[str], str], task_worker: list[Exception], sam: User
) -> None:
    from playwright.sync_api import expect

    # A page on an origin the channel allows (the shop) and one it does not (a copycat site).
    channel = channel_create(kind=Channel.Kind.WEBCHAT, name="Shop chat")
    shop = serve_page(shop_page(live_server.url, channel))
    channel = channel_update_settings(
        channel=channel, values={"allowed_origins": shop, "title": "Acme help", "welcome": "Hi! Ask us anything."}
    )
    copycat = serve_page(shop_page(live_server.url, channel))

    visitor_context = browser.new_context()
    visitor = visitor_context.new_page()
    visitor.set_default_timeout(TIMEOUT_MS)
    visitor.goto(shop)
    visitor.get_by_role("button", name="Open chat").click()
    expect(visitor.get_by_role("heading", name="Acme help")).to_be_visible()
    expect(visitor.get_by_text("Hi! Ask us anything.")).to_be_visible()
    visitor.get_by_placeholder("Name").fill("Inês Costa")
    visitor.get_by_placeholder("E-mail").fill("ines@example.com")
    visitor.get_by_label("Message").fill(QUESTION)
    visitor.get_by_role("button", name="Send").click()
    visitor.get_by_label("Message").fill(MARKUP)
    visitor.get_by_label("Message").press("Enter")

    # Stored, processed by the worker, in the visitor's conversation.
    message = wait_for(lambda: Message.objects.filter(text=QUESTION).select_related("conversation").first())
    conversation: Conversation = message.conversation
    wait_for(lambda: Message.objects.filter(conversation=conversation, text=MARKUP).exists())
    assert conversation.channel_id == channel.pk and conversation.identity is not None
    assert conversation.identity.display_name == "Inês Costa" and conversation.identity.email == "ines@example.com"
    # The widget confirms both (no longer pending) and shows the markup as text.
    expect(visitor.locator(".scrm-wc-from-visitor.scrm-wc-pending")).to_have_count(0)
    expect(visitor.locator(".scrm-wc-from-visitor .scrm-wc-body")).to_have_text([QUESTION, MARKUP])
    assert visitor.evaluate("window.__pwned") is None

    # The agent answers on the conversation's admin page, in a browser of their own.
    staff_client = Client()
    staff_client.force_login(sam)
    staff_context = browser.new_context()
    staff_context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": staff_client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    staff = staff_context.new_page()
    staff.set_default_timeout(TIMEOUT_MS)
    staff.goto(f"{live_server.url}/admin/social/conversation/{conversation.pk}/change/")
    expect(staff.locator("#conversation-thread .thread-text").last).to_have_text(MARKUP)
    staff.locator("textarea[name=reply_text]").fill(ANSWER)
    sent_at = time.monotonic()
    staff.get_by_role("button", name="Send reply").click()
    expect(staff.locator(".messagelist")).to_contain_text("Reply queued")

    answer = visitor.locator(".scrm-wc-from-business .scrm-wc-body")
    expect(answer).to_have_text(ANSWER, timeout=TIMEOUT_MS)
    seconds = time.monotonic() - sent_at
    assert seconds < TIMEOUT_MS / 1000
    assert Message.objects.get(conversation=conversation, text=ANSWER).status == "sent"
    assert not task_worker, task_worker

    # Back on the shop later: the browser kept the token, the thread is still there.
    visitor.reload()
    visitor.get_by_role("button", name="Open chat").click()
    expect(visitor.locator(".scrm-wc-msg .scrm-wc-body")).to_have_text([QUESTION, MARKUP, ANSWER])
    expect(visitor.get_by_placeholder("Name")).to_be_hidden()  # asked once, before the first message

    # The copycat site embeds the same tag: the chat refuses to work there.
    intruder = visitor_context.new_page()
    intruder.set_default_timeout(TIMEOUT_MS)
    intruder.goto(copycat)
    intruder.get_by_role("button", name="Open chat").click()
    expect(intruder.get_by_role("status")).to_have_text("the chat cannot be reached right now")
    intruder.get_by_label("Message").fill("let me in")
    intruder.get_by_role("button", name="Send").click()
    expect(intruder.get_by_role("status")).to_have_text("the chat cannot be reached right now")
    assert InboundEvent.objects.count() == 2  # the visitor's two messages, nothing from the copycat
    assert conversation.messages.count() == 3
