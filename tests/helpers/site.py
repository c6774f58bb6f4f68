"""A site set up the way ``make run`` does it, once per test session, in a temporary var dir."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.processes import manage, project_env

# The Makefile's `setup` steps and the one `run` adds before serving (test_make_run_lists_the_setup_steps
# checks the Makefile still says so).
SETUP_STEPS: list[tuple[str, ...]] = [
    ("migrate", "--noinput"),
    ("createcachetable",),
    ("collectstatic", "--noinput", "--verbosity", "0"),
    ("seed_demo",),
    ("seed_social_demo",),
    ("ensure_demo_staff",),
]


@dataclass(frozen=True)
class PreparedSite:
    var_dir: Path
    outputs: dict[str, subprocess.CompletedProcess[str]]


_prepared: list[PreparedSite] = []


def prepared_site(tmp_path_factory: pytest.TempPathFactory) -> PreparedSite:
    """Run the setup steps through ``manage.py`` on a fresh SQLite database (first call only)."""
    if not _prepared:
        var_dir = tmp_path_factory.mktemp("site-var")
        env = project_env(var_dir)
        outputs = {}
        for step in SETUP_STEPS:
            done = manage(*step, env=env, timeout=90)
            assert done.returncode == 0, f"manage.py {' '.join(step)} failed:\n{done.stdout}\n{done.stderr}"
            outputs[step[0]] = done
        _prepared.append(PreparedSite(var_dir=var_dir, outputs=outputs))
    return _prepared[0]
