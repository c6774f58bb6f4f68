"""Real concurrent transactions for race tests (PostgreSQL): each call in its own thread and connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def run_concurrently(target: Callable[[Any], Any], args: list[Any]) -> list[BaseException]:
    """Run ``target(arg)`` for every arg in its own thread (own database connection), all released at once;
    returns what the calls raised."""
    barrier = threading.Barrier(len(args))
    errors: list[BaseException] = []

    def worker(arg: Any) -> None:
        try:
            barrier.wait(timeout=10)
            target(arg)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(arg,)) for arg in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors
