"""Where the server offers pgmq as an extension, the migrations create it with CREATE EXTENSION.

pgmq is pure SQL, so the extension is made available here by writing its control file and the SQL
bundled in the PyPI package into the server's extension directory (root is needed for that, as
for installing any extension; the suite runs as root in CI and on the dev machines).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg

from pgflow import migrator
from pgflow.pgmq_install import bundled_pgmq_sql


@contextlib.contextmanager
def pgmq_extension_files() -> Iterator[None]:
    """Offer pgmq as an extension for the duration of the block (files removed afterwards, so the
    rest of the suite sees a server without it, like plain Debian PostgreSQL)."""
    sharedir = Path(subprocess.run(["pg_config", "--sharedir"], capture_output=True, text=True,
                                   check=True).stdout.strip())
    version, sql = bundled_pgmq_sql()
    ext = sharedir / "extension"
    control, script = ext / "pgmq.control", ext / f"pgmq--{version}.sql"
    created = not control.exists()
    if created:
        script.write_text(sql, encoding="utf-8")
        control.write_text(
            f"comment = 'A lightweight message queue'\ndefault_version = '{version}'\nrelocatable = false\n"
            "superuser = false\ntrusted = true\n",
            encoding="utf-8",
        )
    try:
        yield
    finally:
        if created:
            control.unlink(missing_ok=True)
            script.unlink(missing_ok=True)


def test_migrations_create_the_pgmq_extension_when_offered(empty_db_dsn: str) -> None:
    with pgmq_extension_files():
        migrator.migrate(empty_db_dsn, install_pgmq=False)  # 0010_extensions.sql does it
    with psycopg.connect(empty_db_dsn) as conn:
        row = conn.execute("select extversion from pg_extension where extname = 'pgmq'").fetchone()
        assert row is not None
        conn.execute("select pgflow.create_flow('ext_path')")
        assert conn.execute("select count(*) from pgmq.list_queues() where queue_name = 'ext_path'").fetchone() == (1,)
