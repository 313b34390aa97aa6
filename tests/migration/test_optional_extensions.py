"""A server may list pg_cron or pg_net among its available extensions and still refuse to create
them: pg_cron outside shared_preload_libraries (as on many managed servers) fails in its install
script. The install goes on without them, with a notice, and the cron jobs are simply not
scheduled (0950_install_cron_jobs looks for cron.schedule)."""

from __future__ import annotations

import psycopg

from pgflow import migrator
from tests.support.extensions import offered_extension

_REFUSES = """do $$
begin
    raise exception 'unrecognized configuration parameter "cron.database_name"';
end;
$$;
"""


def test_an_offered_extension_that_cannot_be_created_does_not_stop_the_install(empty_db_dsn: str) -> None:
    with (
        offered_extension("pg_cron", "1.0", _REFUSES, "stands for pg_cron outside shared_preload_libraries") as cron,
        offered_extension("pg_net", "1.0", _REFUSES, "stands for pg_net outside shared_preload_libraries") as net,
        psycopg.connect(empty_db_dsn, autocommit=True) as conn,
    ):
        offered = {r[0] for r in conn.execute(
            "select name from pg_available_extensions where name in ('pg_cron', 'pg_net')"
        )}
        assert offered == {"pg_cron", "pg_net"}
        migrator.migrate(empty_db_dsn)
        assert migrator.check_schema_version(conn) == migrator.SCHEMA_VERSION
        created = {r[0] for r in conn.execute("select extname from pg_extension")}
        if cron:  # our stand-in (a real pg_cron, when the server has one, may well be preloaded)
            assert "pg_cron" not in created
            assert conn.execute("select to_regprocedure('cron.schedule(text,text,text)')").fetchone() == (None,)
        if net:
            assert "pg_net" not in created
        conn.execute("select pgflow.create_flow('opt_ext')")
        assert conn.execute("select pgflow.start_flow('opt_ext', '{}')").fetchone() is not None
