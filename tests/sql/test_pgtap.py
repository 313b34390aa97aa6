"""Runs every pgTAP file under tests/sql/<function>/<behaviour>.test.sql through psql against a
migrated database with the Supabase stand-ins, and fails on any `not ok`, a plan mismatch or a SQL
error. Each file opens a transaction and rolls it back, so all files share one database.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FILES = sorted(p for p in HERE.rglob("*.test.sql") if "_fixtures" not in p.parts)
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
        raise AssertionError(f"psql exited {proc.returncode} on {path.relative_to(HERE)}:\n{out[-4000:]}")
    plan = PLAN.search(proc.stdout)
    results = OK.findall(proc.stdout)
    failures = [f"{s} {n}{rest}" for s, n, rest in results if s == "not ok"]
    if plan is None:
        raise AssertionError(f"no TAP plan in output of {path.relative_to(HERE)}:\n{out[-4000:]}")
    planned = int(plan.group(1))
    if planned != len(results):
        failures.append(f"planned {planned} tests but ran {len(results)}")
    return len(results), failures, out


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(HERE)) for p in FILES])
def test_pgtap(pgtap_dsn: str, path: Path) -> None:
    count, failures, out = run_pgtap_file(pgtap_dsn, path)
    TOTALS["files"] += 1
    TOTALS["assertions"] += count
    assert not failures, "\n".join(failures) + "\n---\n" + out[-6000:]
