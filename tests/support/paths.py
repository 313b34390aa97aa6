"""Where things are, computed once: the repository root and the directories tests read."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client"
SQL = ROOT / "sql"
MIGRATIONS = ROOT / "migrations"
SQL_FIXTURES = ROOT / "tests" / "sql" / "_fixtures"


def subprocess_env(extra: dict[str, str] | None = None, *, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment for a child Python process that imports ``tests`` and
    ``pgflow`` from this checkout: PYTHONPATH set, the ``drop`` variables removed, ``extra`` added."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(CLIENT)])
    return env | (extra or {})
