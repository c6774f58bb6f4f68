"""The listening knobs come from the environment; a bad value stops start-up naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LISTENING_FEED_TIMEOUT", "soon", "LISTENING_FEED_TIMEOUT: expected a whole number, got 'soon'"),
        ("LISTENING_INGEST_MAX_ITEMS", "0", "LISTENING_INGEST_MAX_ITEMS: must be at least 1, got 0"),
    ],
)
def test_bad_value_stops_start_up(name: str, value: str, message: str) -> None:
    env = {**os.environ, name: value}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and message in result.stderr
