"""A PostgreSQL server with the real pg_cron loaded (shared_preload_libraries = 'pg_cron'), for the
tests of the pg_cron paths. A server of its own, started once per session, because the shared
server of tests/conftest.py does not preload pg_cron. pg_cron runs jobs in background workers
(cron.use_background_workers), so no password or host setting is needed.

The database named by cron.database_name is cloned from one migrated WITHOUT pg_cron, then gets
the extension and the jobs 0950_install_cron_jobs would schedule: the released initial migration
cannot install on a server with the real pg_cron (its setup_*_cron functions looked for
`cron.unschedule(text)`, which pg_cron spells `cron.unschedule(name)`, so 0950 raised); the
functions are fixed in the current migration, the released file cannot change. Debian's
pg_cron is 1.4, which refuses the `15 seconds` / `1 second` intervals 0950 asks for (pg_cron
>= 1.5 takes them): the jobs are scheduled with cron syntax here.
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
            conn.execute("create database pgflow_no_cron")
        template = pg.dsn_for("pgflow_no_cron")
        with psycopg.connect(template, autocommit=True) as conn:
            ensure_pgmq(conn, prefer_extension=False)
        # 0010_extensions tries `create extension pg_cron`, which pg_cron refuses outside
        # cron.database_name: the install goes on without it (a notice), as on a managed server
        migrator.migrate(template, install_pgmq=False)
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(f"create database {CRON_DB} template pgflow_no_cron")
        dsn = pg.dsn_for(CRON_DB)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create extension pg_cron")
            # Debian's pg_cron is 1.4, which knows cron syntax only; `N seconds` needs pg_cron >= 1.5
            conn.execute("select pgflow.setup_requeue_stalled_tasks_cron('* * * * *')")
            conn.execute("select pgflow.setup_ensure_workers_cron('* * * * *')")
        yield dsn
    finally:
        pg.stop()
