"""Running one pgTAP file through psql and reading its TAP output; the session's totals (printed
by tests/conftest.py at the end of a run)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.paths import ROOT

HERE = ROOT / "tests" / "sql"
PLAN = re.compile(r"^\s*1\.\.(\d+)\s*$", re.M)
OK = re.compile(r"^\s*(not ok|ok) (\d+)(.*)$", re.M)

TOTALS = {"files": 0, "assertions": 0}


def run_pgtap_file(dsn: str, path: Path) -> tuple[int, list[str], str]:
    proc = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(path)],
        capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"psql exited {proc.returncode} on {_label(path)}:\n{out[-4000:]}")
    plan = PLAN.search(proc.stdout)
    results = OK.findall(proc.stdout)
    failures = [f"{s} {n}{rest}" for s, n, rest in results if s == "not ok"]
    if plan is None:
        raise AssertionError(f"no TAP plan in output of {_label(path)}:\n{out[-4000:]}")
    planned = int(plan.group(1))
    if planned != len(results):
        failures.append(f"planned {planned} tests but ran {len(results)}")
    return len(results), failures, out


def _label(path: Path) -> str:
    """The file as error messages name it: relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
