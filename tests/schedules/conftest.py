"""A PostgreSQL server with the real pg_cron loaded (shared_preload_libraries = 'pg_cron'), for the
tests of the pg_cron paths. A server of its own, started once per session, because the shared
server of tests/conftest.py does not preload pg_cron. pg_cron runs jobs in background workers
(cron.use_background_workers), so no password or host setting is needed.

The database named by cron.database_name gets pg_cron first and is then migrated, as a Supabase
project is: the install must go through on the real pg_cron. Debian's pg_cron is 1.4, which
refuses the `15 seconds` / `1 second` intervals 0950_install_cron_jobs asks for (pg_cron >= 1.5
takes them): the install reports those with a NOTICE and goes on, and the jobs are scheduled here
with cron syntax.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgflow import migrator
from pgflow.embedded import EmbeddedPostgres
from pgflow.pgmq_install import ensure_pgmq

CRON_DB = "pgflow_cron"
PG_CRON_CONTROL = Path("/usr/share/postgresql/15/extension/pg_cron.control")


@pytest.fixture(scope="session")
def pg_cron_dsn() -> Iterator[str]:
    assert PG_CRON_CONTROL.exists(), f"pg_cron is not installed ({PG_CRON_CONTROL}): run `make bootstrap-test`"
    pg = EmbeddedPostgres(settings={
        "shared_preload_libraries": "pg_cron",
        "cron.database_name": CRON_DB,
        "cron.use_background_workers": "on",
        "max_worker_processes": "20",
    }).start()
    try:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(f"create database {CRON_DB}")
        dsn = pg.dsn_for(CRON_DB)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create extension pg_cron")
            ensure_pgmq(conn, prefer_extension=False)
        migrator.migrate(dsn, install_pgmq=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            # Debian's pg_cron is 1.4, which knows cron syntax only; `N seconds` needs pg_cron >= 1.5
            conn.execute("select pgflow.setup_requeue_stalled_tasks_cron('* * * * *')")
            conn.execute("select pgflow.setup_ensure_workers_cron('* * * * *')")
        yield dsn
    finally:
        pg.stop()
