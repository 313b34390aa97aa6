#!/usr/bin/env python3
"""Lints every PL/pgSQL function body in schemas pgflow and pgflow_testing (optional) with plpgsql_check (part of `make lint`).

Starts a throwaway server (pgflow.embedded), installs the Supabase stand-ins the pgTAP database
uses (so bodies that reference realtime, vault, pg_net or cron resolve), pgmq and the migrations,
then runs `plpgsql_check_function_tb` on each function. Errors and warnings fail the lint; the
"extra" warnings (unused parameters of the contract's no-op functions, OUT values set by dynamic
SQL) are printed but do not fail it.

    python scripts/lint_plpgsql.py          # needs Debian's postgresql-15-plpgsql-check
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

from pgflow import migrator
from pgflow.embedded import EmbeddedPostgres
from pgflow.pgmq_install import ensure_pgmq

ROOT = Path(__file__).resolve().parent.parent
STANDINS = ROOT / "tests" / "sql" / "_fixtures" / "before_migrate"

CHECK = """
select p.oid::regprocedure::text as fn, cf.level, cf.message, cf.lineno, cf.detail
from pg_catalog.pg_proc as p
join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
join pg_catalog.pg_language as l on l.oid = p.prolang
cross join lateral public.plpgsql_check_function_tb(p.oid, extra_warnings => true) as cf
where n.nspname in ('pgflow', 'pgflow_testing') and l.lanname = 'plpgsql' and p.prorettype <> 'trigger'::regtype
order by 1, 4
"""


def main() -> int:
    with EmbeddedPostgres() as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute("create database lint")
        dsn = pg.dsn_for("lint")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for f in sorted(STANDINS.glob("*.sql")):
                conn.execute(f.read_text(encoding="utf-8").encode())
            ensure_pgmq(conn, prefer_extension=False)
        migrator.migrate(dsn, install_pgmq=False)
        migrator.install_optional(dsn, "pgflow_testing")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create extension if not exists plpgsql_check")
            rows = conn.execute(CHECK).fetchall()
            count = conn.execute(
                "select count(*) from pg_catalog.pg_proc as p join pg_catalog.pg_namespace as n "
                "on n.oid = p.pronamespace join pg_catalog.pg_language as l on l.oid = p.prolang "
                "where n.nspname in ('pgflow', 'pgflow_testing') and l.lanname = 'plpgsql'"
            ).fetchone()
    failures = 0
    for fn, level, message, lineno, detail in rows:
        where = f"{fn} line {lineno}" if lineno else fn
        print(f"{level}: {where}: {message}" + (f" ({detail})" if detail else ""))
        failures += level in ("error", "warning")
    print(f"plpgsql_check: {count[0] if count else 0} functions checked, {failures} error(s)/warning(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
