"""supabase/migrations must be exactly migrations/ (the Supabase CLI project installs the same files)."""

from __future__ import annotations

from tests.support.paths import ROOT


def test_supabase_migrations_are_the_same_files() -> None:
    ours = {p.name: p.read_bytes() for p in (ROOT / "migrations").glob("*.sql")}
    theirs = {p.name: p.read_bytes() for p in (ROOT / "supabase" / "migrations").glob("*.sql")}
    assert ours and ours == theirs


def test_atlas_project_points_at_sql_and_migrations() -> None:
    text = (ROOT / "atlas.hcl").read_text()
    assert 'src = "file://sql"' in text
    assert 'dir    = "file://migrations"' in text
