"""The migrator: idempotent, ordered, locked, and strict about history."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from pgflow import migrator
from pgflow.errors import MigrationError, SchemaVersionError
from tests.support.cli import run_cli
from tests.support.paths import ROOT


def test_migrate_installs_pgmq_then_applies_everything_once(empty_db_dsn: str) -> None:
    notes: list[str] = []
    applied = migrator.migrate(empty_db_dsn, progress=notes.append)
    assert [m.path.name for m in applied] == [m.path.name for m in migrator.load_migrations()]
    assert notes[0].startswith("installed pgmq")
    assert migrator.migrate(empty_db_dsn) == []  # second run: nothing to do
    with psycopg.connect(empty_db_dsn) as conn:
        assert migrator.check_schema_version(conn) == migrator.SCHEMA_VERSION
        st = migrator.status(conn)
    assert st and all(s.applied_at is not None for s in st)


def test_tampered_migration_is_refused(empty_db_dsn: str, tmp_path: Path) -> None:
    mig = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", mig)
    migrator.migrate(empty_db_dsn, directory=mig)
    first = sorted(mig.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="was edited after being applied"):
        migrator.migrate(empty_db_dsn, directory=mig)


def test_earlier_text_of_a_corrected_release_is_accepted(empty_db_dsn: str) -> None:
    """A database that applied an earlier text of a migration later corrected in place (listed
    in the migrator with its old checksums) is not refused; any other checksum still is."""
    migrator.migrate(empty_db_dsn)
    version, olds = next(iter(migrator._SUPERSEDED.items()))
    assert len(olds) == 2
    with psycopg.connect(empty_db_dsn, autocommit=True) as conn:
        for old in sorted(olds):
            conn.execute("update pgflow_migrations.applied set checksum = %s where version = %s", (old, version))
            assert migrator.migrate(empty_db_dsn) == []
        conn.execute("update pgflow_migrations.applied set checksum = 'f00' where version = %s", (version,))
    with pytest.raises(MigrationError, match="was edited after being applied"):
        migrator.migrate(empty_db_dsn)


def test_unknown_applied_migration_means_database_is_newer(empty_db_dsn: str, tmp_path: Path) -> None:
    mig = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", mig)
    (mig / "29990101000000_future.sql").write_text("select 1;\n")
    migrator.migrate(empty_db_dsn, directory=mig)
    (mig / "29990101000000_future.sql").unlink()
    with pytest.raises(MigrationError, match="newer than this package"):
        migrator.migrate(empty_db_dsn, directory=mig)


def test_failed_migration_rolls_back_and_names_itself(empty_db_dsn: str, tmp_path: Path) -> None:
    mig = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", mig)
    (mig / "29990101000000_broken.sql").write_text("create table pgflow.half_done (x int);\nselect 1/0;\n")
    with pytest.raises(MigrationError, match="29990101000000_broken failed: division by zero"):
        migrator.migrate(empty_db_dsn, directory=mig)
    with psycopg.connect(empty_db_dsn) as conn:
        assert conn.execute("select to_regclass('pgflow.half_done')").fetchone() == (None,)
        pending = [s.migration.name for s in migrator.status(conn, mig) if s.applied_at is None]
    assert pending == ["broken"]


def test_concurrent_migrations_apply_once(empty_db_dsn: str) -> None:
    results: list[object] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        try:
            results.append(len(migrator.migrate(empty_db_dsn)))
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=repr) == sorted([len(migrator.load_migrations()), 0, 0], key=repr)


def test_client_refuses_unmigrated_database(empty_db_dsn: str) -> None:
    with psycopg.connect(empty_db_dsn) as conn, pytest.raises(SchemaVersionError, match="pgflow migrate"):
        migrator.check_schema_version(conn)


def test_migration_without_pgmq_says_how_to_install_it(empty_db_dsn: str) -> None:
    with pytest.raises(MigrationError, match=r"pgflow migrate --dsn"):
        migrator.migrate(empty_db_dsn, install_pgmq=False)


def test_cli_migrate_twice_and_status(empty_db_dsn: str) -> None:
    first = run_cli("migrate", "--dsn", empty_db_dsn)
    assert first.returncode == 0, first.stderr
    shipped = len(migrator.load_migrations())
    assert f"applied {shipped} migration(s)" in first.stdout
    second = run_cli("migrate", "--dsn", empty_db_dsn)
    assert second.returncode == 0 and "nothing to do" in second.stdout
    st = run_cli("migrate", "--status", "--dsn", empty_db_dsn)
    assert st.returncode == 0 and f"{shipped} applied, 0 pending" in st.stdout


def test_cli_without_dsn_says_what_to_pass() -> None:
    proc = run_cli("migrate")
    assert proc.returncode == 1
    assert "--dsn" in proc.stderr and "DATABASE_URL" in proc.stderr


def test_upgrade_from_the_previous_release(empty_db_dsn: str, tmp_path: Path) -> None:
    """A database at the previous release is told to migrate, then migrates to the current schema."""
    released = [ln for ln in (ROOT / "migrations" / "RELEASED").read_text().split() if ln.endswith(".sql")]
    shipped = migrator.load_migrations()
    assert len(shipped) > len(released), "the current release has no migration of its own"
    old = tmp_path / "old"
    old.mkdir()
    for name in released:
        shutil.copy(ROOT / "migrations" / name, old / name)
    migrator.migrate(empty_db_dsn, directory=old)
    with psycopg.connect(empty_db_dsn) as conn, pytest.raises(SchemaVersionError, match="run `pgflow migrate"):
        migrator.check_schema_version(conn)
    applied = migrator.migrate(empty_db_dsn)
    assert [m.path.name for m in applied] == [m.path.name for m in shipped if m.path.name not in released]
    with psycopg.connect(empty_db_dsn) as conn:
        assert migrator.check_schema_version(conn) == migrator.SCHEMA_VERSION
