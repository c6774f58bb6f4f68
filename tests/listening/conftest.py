"""Fixtures for listening: a feed server on loopback, a partner source with its signing, monitors.

The feed server is a real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, plain or TLS) serving documents
set by the test, honouring ``If-None-Match`` with a 304 as real servers do, and recording each request's
headers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client

from social.models import Monitor, PartnerSource
from tests.social.conftest import FakeProvider, TaskRecorder, fake_provider, tasks

PARTNER_SECRET = "listening-partner-secret-0123456789abcdef"


@dataclass
class Document:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str = ""
    last_modified: str = ""
    location: str = ""  # with a 3xx status: a redirect


@dataclass
class FeedServer:
    url: str = ""
    documents: dict[str, Document] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def serve(self, path: str, body: bytes | str, **kwargs: Any) -> str:
        self.documents[path] = Document(body.encode() if isinstance(body, str) else body, **kwargs)
        return self.url + path

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with running_feed_server() as server:
        yield server


@contextmanager
def running_feed_server(*, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> Iterator[FeedServer]:
    """A feed server on loopback; with ``tls`` it speaks https, its URL naming ``host`` (which the test
    resolves to loopback)."""
    server_state = FeedServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            server_state.requests.append((self.path, headers))
            doc = server_state.documents.get(self.path)
            if doc is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if doc.etag and headers.get("if-none-match") == doc.etag:
                self.send_response(304)
                self.send_header("ETag", doc.etag)
                self.end_headers()
                return
            self.send_response(doc.status)
            self.send_header("Content-Type", doc.content_type)
            self.send_header("Content-Length", str(len(doc.body)))
            if doc.etag:
                self.send_header("ETag", doc.etag)
            if doc.last_modified:
                self.send_header("Last-Modified", doc.last_modified)
            if doc.location:
                self.send_header("Location", doc.location)
            self.end_headers()
            self.wfile.write(doc.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        # The handshake happens in the request's thread, so a client that gives up cannot stall the server.
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    server_state.url = f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}"
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"


def rss(*items: tuple[str, str, str], title: str = "Reviews") -> str:
    """An RSS 2.0 document; items are (guid, title, description)."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>{item_title}</title><link>https://reviews.example.com/{guid}</link>"
        f"<description>{text}</description><author>critic@example.com (Critic)</author>"
        "<pubDate>Sat, 28 Nov 2026 10:00:00 GMT</pubDate></item>"
        for guid, item_title, text in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://reviews.example.com/</link><description>d</description>{body}</channel></rss>"
    )


# --- Monitors and partners --------------------------------------------------------------------------------


@pytest.fixture
def make_monitor(db: None) -> Callable[..., Monitor]:
    def _make(name: str, query: str, **fields: Any) -> Monitor:
        monitor = Monitor(name=name, query=query, **fields)
        monitor.full_clean()
        monitor.save()
        return monitor

    return _make


@pytest.fixture
def partner(db: None) -> PartnerSource:
    source = PartnerSource(name="Listening partner")
    source.set_signing_secret(PARTNER_SECRET)
    source.save()
    return source


def signed(body: bytes, secret: str = PARTNER_SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_SCRM_TIMESTAMP": str(stamp), "HTTP_X_SCRM_SIGNATURE": f"sha256={digest}"}


def post_mentions(client: Client, source: PartnerSource, payload: Any, *, sign: bool = True, **headers: str) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers = {**(signed(body) if sign else {}), **headers}
    return client.post(
        f"/listening/ingest/{source.ingest_key}/", data=body, content_type="application/json", **all_headers
    )


__all__ = ["FakeProvider", "TaskRecorder", "fake_provider", "tasks"]
