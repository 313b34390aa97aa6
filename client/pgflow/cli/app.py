"""The top-level parser, assembled from the command modules, and ``main``: logging, dispatch,
and the mapping of errors to exit codes (see the package docstring)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pgflow.cli.commands import COMMANDS
from pgflow.cli.options import FORMATTER, examples
from pgflow.cli.runtime import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from pgflow.errors import PgflowError

_LOG = logging.getLogger("pgflow.cli")


def build_parser() -> argparse.ArgumentParser:
    from pgflow import __version__

    p = argparse.ArgumentParser(
        prog="pgflow",
        description="pgflow: a Postgres-native DAG workflow engine (SQL core + Python worker).",
        epilog=examples("""
            pgflow demo                                   # everything in a throwaway Postgres
            pgflow dev flows:greet                        # a local Postgres in .pgflow/ and a reloading worker
            export DATABASE_URL=postgresql://app@localhost/app
            pgflow migrate                                # install pgmq + the pgflow schema
            pgflow compile myapp.flows:greet --migrations-dir migrations/
            pgflow worker myapp.flows:greet --concurrency 20
            pgflow start greet --input '{"name": "Ada"}' --wait
            pgflow status 5f0c...                         # a run and its steps
            pgflow runs --status failed
            pgflow inspect 5f0c...                        # a run's failed tasks and their errors
            pgflow ui --read-only                         # the web dashboard on 127.0.0.1:8080
        """) + "\n\nexit codes: 0 ok, 1 error (or a run that failed/timed out), 2 usage, 130 interrupted",
        formatter_class=FORMATTER,
    )
    p.add_argument("-V", "--version", action="version", version=f"pgflow-py {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    subparsers = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        command = importlib.import_module(f"pgflow.cli.commands.{name}")
        command.add_parser(subparsers).set_defaults(run_command=command.run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # A worker and the dashboard are long-running services: they report start and stop (INFO).
    verbosity = args.verbose + (1 if getattr(args, "command", None) in ("worker", "ui") else 0)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run_command = getattr(args, "run_command", None)
    if run_command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(run_command(args))
    except PgflowError as exc:
        if args.verbose:
            _LOG.exception("command failed")
        print(f"pgflow: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        import psycopg

        if not isinstance(exc, psycopg.Error):
            raise
        if args.verbose:
            _LOG.exception("command failed")
        print(f"pgflow: database error: {str(exc).strip()}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
