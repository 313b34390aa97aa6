"""The `pgflow` command run as a subprocess (``python -m pgflow ...``), as a user runs it.
DATABASE_URL is removed from the child's environment unless ``env`` gives it, so a test says
which database a command uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import subprocess_env


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``pgflow ARGS`` to completion; stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "pgflow", *args], cwd=cwd, env=subprocess_env(env, drop=("DATABASE_URL",)),
        capture_output=True, text=True, timeout=timeout,
    )


def start_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``pgflow ARGS`` in the background (stdout and stderr as text pipes); the caller
    communicates with it and kills it in a ``finally``."""
    return subprocess.Popen(
        [sys.executable, "-m", "pgflow", *args], cwd=cwd, env=subprocess_env(env, drop=("DATABASE_URL",)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
