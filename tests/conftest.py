"""Shared fixtures: one PostgreSQL server per session, migrated template databases, and a fresh
database per test cloned from a template (pytest-postgresql's DatabaseJanitor).

The server is a throwaway one started from the local binaries (pgflow.embedded), unless
PGFLOW_TEST_DSN points at an existing server (postgresql://user:pass@host:port/db); the suite then
creates and drops its own databases there.

Templates:
  * plain  - pgmq (bundled SQL) + pgflow migrations: what a user on plain PostgreSQL has.
  * pgtap  - Supabase stand-ins (realtime, vault, pg_net, pg_cron) installed first, then pgmq,
             migrations, pgTAP and the pgflow_tests helpers: what the acceptance suite runs on.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from pgflow import migrator
from pgflow.embedded import EmbeddedPostgres, EmbeddedPostgresError, find_bindir
from pgflow.pgmq_install import ensure_pgmq
from tests.support.paths import SQL_FIXTURES as FIXTURES
from tests.support.pgtap import TOTALS
from tests.support.processes import WorkerProcess, stop_all


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str | None
    embedded: EmbeddedPostgres | None = None

    def dsn(self, dbname: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def janitor(self, dbname: str, **kw: object) -> DatabaseJanitor:
        return DatabaseJanitor(
            user=self.user, host=self.host, port=self.port, password=self.password, dbname=dbname, **kw  # type: ignore[arg-type]
        )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    url = os.environ.get("PGFLOW_TEST_DSN")
    if url:
        u = urlparse(url)
        yield Server(u.hostname or "127.0.0.1", u.port or 5432, u.username or "postgres", u.password)
        return
    try:
        find_bindir()
    except EmbeddedPostgresError:
        if shutil.which("docker") is None:
            raise
        yield from _container_server()
        return
    pg = EmbeddedPostgres().start()
    try:
        yield Server("127.0.0.1", pg.port, pg.user, None, embedded=pg)
    finally:
        pg.stop()


def _container_server() -> Iterator[Server]:
    """No local server binaries but a Docker engine: start PostgreSQL in a container with
    testcontainers (`pip install testcontainers`). For users' machines only; this project's
    machines have the binaries and no Docker engine, so this path is not exercised here. The image
    (PGFLOW_TEST_IMAGE, default postgres:15) needs pgTAP for tests/sql; tests that restart the
    server (pg_server.embedded) start an embedded one and so still need the binaries."""
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(os.environ.get("PGFLOW_TEST_IMAGE", "postgres:15"), username="postgres",
                                  password="postgres", dbname="postgres")
    container.start()
    try:
        yield Server(container.get_container_host_ip(), int(container.get_exposed_port(5432)), "postgres", "postgres")
    finally:
        container.stop()


def _run_sql_files(dsn: str, files: list[Path]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for f in files:
            conn.execute(f.read_text(encoding="utf-8").encode())


def _make_template(server: Server, name: str, *, standins: bool) -> Iterator[str]:
    janitor = server.janitor(name, as_template=True)
    janitor.drop() if _exists(server, name) else None
    janitor.init()
    dsn = server.dsn(name)
    try:
        if standins:
            _run_sql_files(dsn, sorted((FIXTURES / "before_migrate").glob("*.sql")))
        with psycopg.connect(dsn, autocommit=True) as conn:
            ensure_pgmq(conn, prefer_extension=False)
        migrator.migrate(dsn, install_pgmq=False)
        if standins:
            _run_sql_files(dsn, sorted((FIXTURES / "after_migrate").glob("*.sql")))
        yield name
    finally:
        janitor.drop()


def _exists(server: Server, name: str) -> bool:
    with psycopg.connect(server.dsn("postgres"), autocommit=True) as conn:
        return conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is not None


@pytest.fixture(scope="session")
def plain_template(pg_server: Server) -> Iterator[str]:
    yield from _make_template(pg_server, f"pgflow_tpl_plain_{os.getpid()}", standins=False)


@pytest.fixture(scope="session")
def pgtap_template(pg_server: Server) -> Iterator[str]:
    yield from _make_template(pg_server, f"pgflow_tpl_pgtap_{os.getpid()}", standins=True)


@pytest.fixture(scope="session")
def pgtap_dsn(pg_server: Server, pgtap_template: str) -> Iterator[str]:
    """One database for all pgTAP files: each file runs in a transaction it rolls back."""
    name = f"pgflow_pgtap_{os.getpid()}"
    with pg_server.janitor(name, template_dbname=pgtap_template):
        yield pg_server.dsn(name)


@pytest.fixture
def db_dsn(pg_server: Server, plain_template: str) -> Iterator[str]:
    """A fresh, migrated database (plain PostgreSQL + pgmq) for this test alone."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with pg_server.janitor(name, template_dbname=plain_template):
        yield pg_server.dsn(name)


@pytest.fixture
def conn(db_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_dsn, autocommit=True) as c:
        yield c


@pytest.fixture
def empty_db_dsn(pg_server: Server) -> Iterator[str]:
    """A fresh database with nothing installed (no pgmq, no pgflow)."""
    name = f"e_{uuid.uuid4().hex[:16]}"
    with pg_server.janitor(name):
        yield pg_server.dsn(name)


@pytest.fixture
def procs() -> Iterator[list[WorkerProcess]]:
    """Worker processes started by the test; all stopped (TERM, then KILL) at teardown."""
    started: list[WorkerProcess] = []
    yield started
    stop_all(started)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TOTALS["files"]:
        terminalreporter.write_line(
            f"pgTAP: {TOTALS['assertions']} assertions in {TOTALS['files']} files passed"
        )
