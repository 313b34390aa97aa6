"""Applies pgflow's migrations/ to a database, in name order, each in its own transaction.

History lives in ``pgflow_migrations.applied`` (version, name, checksum, applied_at), outside the
``pgflow`` schema so the API schema holds only what the contract names. A session-level advisory
lock makes concurrent ``migrate`` calls wait for each other. An applied migration whose file has
since changed, or one this package does not ship, stops the run with an error that says why.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import psycopg

from pgflow.errors import MigrationError, SchemaVersionError
from pgflow.pgmq_install import ensure_pgmq

logger = logging.getLogger(__name__)

# The schema version (pgflow.schema_version()) this package's client and worker understand.
SCHEMA_VERSION = 2
_LOCK_KEY = 7_412_019  # advisory lock key shared by every `pgflow migrate`
_NAME = re.compile(r"^(\d{14})_([a-z0-9_]+)\.sql$")
# Released migrations corrected in place, with the checksums of their earlier texts: a database
# that applied an earlier text is accepted rather than refused (its schema is the same but for the
# correction, which only mattered to installs that failed). 20261122000000: 0010_extensions no
# longer aborts where pg_cron or pg_net is listed but cannot be created (pg_cron outside
# shared_preload_libraries, as on many managed servers); then its cron setup installs on the real
# pg_cron (whose unschedule-by-name takes a `name`; pg_cron before 1.5 refuses `N seconds` jobs,
# which now gives a NOTICE instead of aborting the install).
_SUPERSEDED: dict[str, frozenset[str]] = {
    "20261122000000": frozenset({
        "3b6213ff64d71a45784acca97558e0fd7feb5df68277c2f6005fc9510f99dfc6",
        "63a18250597498d4f36e7633d3113008f27972e55cb0fb140901ebf69b8ea1fd",
    }),
}


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    path: Path
    checksum: str

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    migration: Migration
    applied_at: datetime | None


def default_migrations_dir() -> Path:
    """migrations/ as shipped in the package (a link to the repository's migrations/)."""
    return Path(str(files("pgflow").joinpath("migrations")))


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or default_migrations_dir()
    out = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"migration file {path.name} is not named <14-digit version>_<name>.sql")
        out.append(Migration(m.group(1), m.group(2), path, hashlib.sha256(path.read_bytes()).hexdigest()))
    if not out:
        raise MigrationError(f"no migrations found in {directory}")
    return out


def _ensure_history(conn: psycopg.Connection) -> None:
    conn.execute("create schema if not exists pgflow_migrations")
    conn.execute(
        """
        create table if not exists pgflow_migrations.applied (
            version text primary key,
            name text not null,
            checksum text not null,
            applied_at timestamptz not null default now()
        )
        """
    )


def _applied(conn: psycopg.Connection) -> dict[str, tuple[str, str, datetime]]:
    if conn.execute("select to_regclass('pgflow_migrations.applied')").fetchone() == (None,):
        return {}
    rows = conn.execute("select version, name, checksum, applied_at from pgflow_migrations.applied").fetchall()
    return {v: (n, c, a) for v, n, c, a in rows}


def _verify(shipped: list[Migration], applied: dict[str, tuple[str, str, datetime]]) -> None:
    by_version = {m.version: m for m in shipped}
    for version, (name, checksum, _) in sorted(applied.items()):
        m = by_version.get(version)
        if m is None:
            raise MigrationError(
                f"the database has migration {version}_{name} applied, which this pgflow-py does not ship: "
                "the database is newer than this package; upgrade pgflow-py"
            )
        if m.checksum != checksum and checksum not in _SUPERSEDED.get(version, frozenset()):
            raise MigrationError(
                f"migration {version}_{name} was applied with checksum {checksum[:12]}, but the file now has "
                f"{m.checksum[:12]}: it was edited after being applied. Restore the original file; "
                "schema changes go in a new migration"
            )


def status(conn: psycopg.Connection, directory: Path | None = None) -> list[MigrationStatus]:
    shipped = load_migrations(directory)
    applied = _applied(conn)
    _verify(shipped, applied)
    return [MigrationStatus(m, applied[m.version][2] if m.version in applied else None) for m in shipped]


def migrate(
    conninfo: str | psycopg.Connection,
    *,
    directory: Path | None = None,
    install_pgmq: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[Migration]:
    """Apply pending migrations; return those applied (empty when up to date)."""
    say = progress or (lambda _msg: None)
    own = isinstance(conninfo, str)
    conn = psycopg.connect(conninfo, autocommit=True) if isinstance(conninfo, str) else conninfo
    try:
        shipped = load_migrations(directory)
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            if install_pgmq:
                how = ensure_pgmq(conn)
                if how != "present":
                    say(f"installed pgmq ({how})")
            with conn.transaction():
                _ensure_history(conn)
            applied = _applied(conn)
            _verify(shipped, applied)
            done = []
            for m in shipped:
                if m.version in applied:
                    continue
                say(f"applying {m.version}_{m.name} ...")
                began = time.monotonic()
                try:
                    with conn.transaction():
                        conn.execute(m.sql.encode())
                        conn.execute(
                            "insert into pgflow_migrations.applied (version, name, checksum) values (%s, %s, %s)",
                            (m.version, m.name, m.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {m.version}_{m.name} failed: {exc}") from exc
                done.append(m)
                say(f"applied {m.version}_{m.name} in {time.monotonic() - began:.2f} s")
                logger.info("applied migration", extra={"migration": f"{m.version}_{m.name}"})
            return done
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    finally:
        if own:
            conn.close()


# Optional schemas shipped beside the migrations (migrations/optional/<name>.sql, generated from
# sql/optional/<name>/): not applied by migrate(); each script is idempotent and not recorded in
# pgflow_migrations.applied, so it is simply applied again after an upgrade.
OPTIONAL_SCHEMAS: tuple[str, ...] = ("pgflow_testing",)


def optional_script(name: str, directory: Path | None = None) -> Path:
    """The script of an optional schema (``migrations/optional/<name>.sql``)."""
    if name not in OPTIONAL_SCHEMAS:
        raise MigrationError(f"no optional schema {name!r}: the optional schemas are {', '.join(OPTIONAL_SCHEMAS)}")
    path = (directory or default_migrations_dir()) / "optional" / f"{name}.sql"
    if not path.is_file():
        raise MigrationError(f"the script of optional schema {name} is missing: {path}")
    return path


def install_optional(
    conninfo: str | psycopg.Connection,
    name: str,
    *,
    directory: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Apply an optional schema's script (e.g. ``pgflow_testing``) in one transaction, under the
    migration lock. The pgflow schema must be migrated first."""
    say = progress or (lambda _msg: None)
    path = optional_script(name, directory)
    own = isinstance(conninfo, str)
    conn = psycopg.connect(conninfo, autocommit=True) if isinstance(conninfo, str) else conninfo
    try:
        check_schema_version(conn)
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            say(f"installing {name} (optional) ...")
            began = time.monotonic()
            try:
                with conn.transaction():
                    conn.execute(path.read_bytes())
            except psycopg.Error as exc:
                raise MigrationError(f"installing {name} failed: {exc}") from exc
            say(f"installed {name} in {time.monotonic() - began:.2f} s")
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    finally:
        if own:
            conn.close()


def require_schema_version(version: int | None) -> int:
    """Raise SchemaVersionError, saying what to run, unless ``version`` (``pgflow.schema_version()``,
    None when the database has no pgflow schema) is the one this package understands."""
    if version is None:
        raise SchemaVersionError("this database has no pgflow schema: run `pgflow migrate --dsn <url>` first")
    if version < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the pgflow schema is at version {version}, this pgflow-py needs {SCHEMA_VERSION}: "
            "run `pgflow migrate --dsn <url>`"
        )
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the pgflow schema is at version {version}, newer than this pgflow-py understands "
            f"({SCHEMA_VERSION}): upgrade pgflow-py"
        )
    return version


def check_schema_version(conn: psycopg.Connection) -> int:
    """Raise SchemaVersionError unless the database runs the schema version this package understands."""
    row = conn.execute("select to_regprocedure('pgflow.schema_version()') is not null").fetchone()
    version = None
    if row and row[0]:
        got = conn.execute("select pgflow.schema_version()").fetchone()
        version = int(got[0]) if got else 0
    return require_schema_version(version)
