"""Runs every pgTAP file under tests/sql/<function>/<behaviour>.test.sql through psql against a
migrated database with the Supabase stand-ins, and fails on any `not ok`, a plan mismatch or a SQL
error. Each file opens a transaction and rolls it back, so all files share one database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pgtap import HERE, TOTALS, run_pgtap_file

FILES = sorted(p for p in HERE.rglob("*.test.sql") if "_fixtures" not in p.parts)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(HERE)) for p in FILES])
def test_pgtap(pgtap_dsn: str, path: Path) -> None:
    count, failures, out = run_pgtap_file(pgtap_dsn, path)
    TOTALS["files"] += 1
    TOTALS["assertions"] += count
    assert not failures, "\n".join(failures) + "\n---\n" + out[-6000:]
