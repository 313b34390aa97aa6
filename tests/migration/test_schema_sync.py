"""sql/ (the declarative source) and migrations/ (what users apply) must build the same schema."""

from __future__ import annotations

import psycopg

from pgflow import migrator
from pgflow.pgmq_install import ensure_pgmq
from tests.support.catalog import diff, snapshot
from tests.support.paths import ROOT


def build_from_sql_dir(dsn: str, extra: str = "") -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_pgmq(conn, prefer_extension=False)
        with conn.transaction():
            for path in sorted((ROOT / "sql").glob("*.sql")):
                conn.execute(path.read_text(encoding="utf-8").encode())
            if extra:
                conn.execute(extra.encode())


def test_sql_and_migrations_build_identical_catalogs(empty_db_dsn: str, db_dsn: str) -> None:
    # db_dsn is cloned from a template built by migrations/; empty_db_dsn gets sql/ applied
    build_from_sql_dir(empty_db_dsn)
    from_sql, from_migrations = snapshot(empty_db_dsn), snapshot(db_dsn)
    assert from_sql["functions"], "the snapshot saw no functions: the comparison would prove nothing"
    assert from_sql["constraints"] and from_sql["indexes"] and from_sql["columns"]
    differences = diff(from_sql, from_migrations)
    assert differences == [], "sql/ and migrations/ disagree:\n" + "\n".join(differences)


def test_comparison_catches_drift(empty_db_dsn: str, db_dsn: str) -> None:
    """The check is only worth having if it fails on drift: change one function body and one default."""
    build_from_sql_dir(
        empty_db_dsn,
        extra="""
        create or replace function pgflow.schema_version() returns int
        language sql immutable set search_path = '' as $$ select 99; $$;
        alter table pgflow.flows alter column opt_timeout set default 61;
        """,
    )
    differences = diff(snapshot(empty_db_dsn), snapshot(db_dsn))
    assert any("schema_version" in d for d in differences), differences
    assert any("opt_timeout" in d and "61" in d for d in differences), differences


def test_generated_migration_is_current() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_migration.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_migrations_dir_is_the_one_the_package_ships() -> None:
    assert [m.path.name for m in migrator.load_migrations()] == sorted(
        p.name for p in (ROOT / "migrations").glob("*.sql")
    )
