"""Where the server offers pgmq as an extension, the migrations create it with CREATE EXTENSION.

pgmq is pure SQL, so the extension is made available here by writing its control file and the SQL
bundled in the PyPI package into the server's extension directory (tests/migration/_extension_files).
"""

from __future__ import annotations

import psycopg

from pgflow import migrator
from pgflow.pgmq_install import bundled_pgmq_sql
from tests.support.extensions import offered_extension


def test_migrations_create_the_pgmq_extension_when_offered(empty_db_dsn: str) -> None:
    version, sql = bundled_pgmq_sql()
    with offered_extension("pgmq", version, sql, "A lightweight message queue"):
        migrator.migrate(empty_db_dsn, install_pgmq=False)  # 0010_extensions.sql does it
    with psycopg.connect(empty_db_dsn) as conn:
        row = conn.execute("select extversion from pg_extension where extname = 'pgmq'").fetchone()
        assert row is not None
        conn.execute("select pgflow.create_flow('ext_path')")
        assert conn.execute("select count(*) from pgmq.list_queues() where queue_name = 'ext_path'").fetchone() == (1,)
