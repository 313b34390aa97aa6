"""The `pgflow` command line. Each subcommand lives in a function `cmd_<name>`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from pgflow.errors import PgflowError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _dsn(args: argparse.Namespace) -> str:
    dsn: str | None = getattr(args, "dsn", None) or os.environ.get("DATABASE_URL")
    if not dsn:
        raise PgflowError("no database given: pass --dsn postgresql://... or set DATABASE_URL")
    return dsn


def cmd_migrate(args: argparse.Namespace) -> int:
    import psycopg

    from pgflow import migrator

    dsn = _dsn(args)
    if args.status:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = migrator.status(conn)
        for st in rows:
            when = st.applied_at.isoformat(timespec="seconds") if st.applied_at else "pending"
            print(f"{st.migration.version}_{st.migration.name}  {when}")
        pending = sum(1 for st in rows if st.applied_at is None)
        print(f"{len(rows) - pending} applied, {pending} pending")
        return EXIT_OK
    done = migrator.migrate(dsn, progress=lambda m: print(m, flush=True))
    print(f"applied {len(done)} migration(s)" if done else "nothing to do: the database is up to date")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pgflow",
        description="pgflow: a Postgres-native DAG workflow engine (SQL core + Python worker).",
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    m = sub.add_parser("migrate", help="apply pending migrations (installs pgmq when missing)")
    m.add_argument("--dsn", help="database URL (default: $DATABASE_URL)")
    m.add_argument("--status", action="store_true", help="list applied and pending migrations, change nothing")
    m.set_defaults(func=cmd_migrate)
    return p


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except PgflowError as exc:
        print(f"pgflow: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
