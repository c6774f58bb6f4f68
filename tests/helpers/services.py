"""The real Redis and PostgreSQL servers the tests use (the ones CI starts), or a skip saying why not."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def redis_test_url() -> str:
    """A Redis database the tests may write to: ``SCRM_TEST_REDIS_URL`` (set by CI) or db 15 on loopback."""
    url = os.environ.get("SCRM_TEST_REDIS_URL") or DEFAULT_REDIS_URL
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {url} is not reachable ({exc}); .ci/run starts it")
    return url


def postgres_server_url() -> str:
    """The PostgreSQL server of the run (``DATABASE_URL`` when it is one), pointed at the always-present
    ``postgres`` database: the tests below only need a server to talk to, not the suite's test database."""
    url = os.environ.get("DATABASE_URL", "")
    if urlsplit(url).scheme in {"postgres", "postgresql", "pgsql"}:
        parts = urlsplit(url)
        url = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    else:
        url = DEFAULT_POSTGRES_URL
    import psycopg

    parts = urlsplit(url)
    try:
        psycopg.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password or None,
            dbname="postgres",
            connect_timeout=2,
        ).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {parts.hostname}:{parts.port} is not reachable ({exc}); .ci/run starts it")
    return url


def at_address(url: str, port: int, host: str = "127.0.0.1") -> str:
    """``url`` with its host and port replaced (user and password kept), e.g. to go through a relay."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def address_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432
