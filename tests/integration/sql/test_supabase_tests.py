"""supabase/tests/ (what `supabase test db` runs) passes here too: each file through psql against
the pgTAP database, which has the optional pgflow_testing helpers installed as supabase/seed.sql
installs them for the Supabase CLI."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.support.paths import MIGRATIONS, ROOT
from tests.support.pgtap import TOTALS, run_pgtap_file

SUPABASE = ROOT / "supabase"
FILES = sorted((SUPABASE / "tests").glob("*.sql"))


def test_there_is_an_example() -> None:
    assert FILES, "supabase/tests/ has no test"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_supabase_test_file(pgtap_dsn: str, path: Path) -> None:
    count, failures, out = run_pgtap_file(pgtap_dsn, path)
    TOTALS["files"] += 1
    TOTALS["assertions"] += count
    assert count > 0 and not failures, "\n".join(failures) + "\n---\n" + out[-6000:]


def test_the_seed_installs_the_testing_helpers() -> None:
    config = tomllib.loads((SUPABASE / "config.toml").read_text())
    seed = config["db"]["seed"]
    assert seed["enabled"] is True
    paths = [SUPABASE / p for p in seed["sql_paths"]]
    assert [p.read_bytes() for p in paths] == [(MIGRATIONS / "optional" / "pgflow_testing.sql").read_bytes()]
