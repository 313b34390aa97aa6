"""``pgflow migrate``: apply pending migrations (installing pgmq when missing), or list them."""

from __future__ import annotations

import argparse

from pgflow.cli.options import Subparsers, add_command, add_dsn
from pgflow.cli.runtime import EXIT_OK, dsn, err


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "migrate",
        help="apply pending migrations (installs pgmq when missing)",
        description="Apply pgflow's migrations to a database, installing pgmq first when it is missing. "
                    "Idempotent; concurrent runs wait for each other.",
        example_lines="""
            pgflow migrate --dsn postgresql://app@localhost/app
            pgflow migrate --status
            pgflow migrate --with-testing     # also the pgflow_testing helpers, for pgTAP tests
            """,
    )
    add_dsn(p)
    p.add_argument("--status", action="store_true", help="list applied and pending migrations, change nothing")
    p.add_argument("--with-testing", action="store_true",
                   help="also install (or update) the optional pgflow_testing schema: complete_next, fail_next, "
                        "run_to_completion for tests written in SQL; never on a production database")
    return p


def run(args: argparse.Namespace) -> int:
    import psycopg

    from pgflow import migrator

    url = dsn(args)
    if args.status:
        with psycopg.connect(url, autocommit=True) as conn:
            rows = migrator.status(conn)
        for st in rows:
            when = st.applied_at.isoformat(timespec="seconds") if st.applied_at else "pending"
            print(f"{st.migration.version}_{st.migration.name}  {when}")
        pending = sum(1 for st in rows if st.applied_at is None)
        print(f"{len(rows) - pending} applied, {pending} pending")
        return EXIT_OK
    done = migrator.migrate(url, progress=err)  # progress on stderr, the outcome on stdout
    print(f"applied {len(done)} migration(s)" if done else "nothing to do: the database is up to date")
    if args.with_testing:
        migrator.install_optional(url, "pgflow_testing", progress=err)
        print("installed pgflow_testing")
    return EXIT_OK
