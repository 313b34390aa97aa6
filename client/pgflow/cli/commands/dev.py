"""``pgflow dev``: a local PostgreSQL in ``.pgflow/``, migrated, a worker that restarts on change,
the dashboard, and ``DATABASE_URL=...`` for the other commands. See pgflow.dev."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pgflow.cli.options import FLOW_SPEC_HELP, Subparsers, add_command, positive_float


def _port(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
        if not minimum <= value <= 65535:
            raise argparse.ArgumentTypeError(f"must be between {minimum} and 65535, got {value}")
        return value

    parse.__name__ = "port"
    return parse


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from pgflow.dev.session import DEFAULT_POLL_INTERVAL, DEFAULT_UI_PORT

    p = add_command(
        subparsers, "dev",
        help="a local Postgres in .pgflow/, migrated, with a worker that restarts when your code changes",
        description="Start (or reuse) a PostgreSQL server whose data is kept in .pgflow/ of the current "
                    "directory (durable settings, the same port every time), migrate it, run a worker for the "
                    "given flows that restarts when a Python file under this directory changes, serve the "
                    "dashboard when it is installed, and print DATABASE_URL=... (also written to "
                    ".pgflow/dev.env, which pgflow start/status/runs/worker read when run in this directory "
                    "without --dsn or DATABASE_URL). A flow whose definition changed (steps, dependencies, "
                    "options) is deleted WITH ITS RUNS and compiled again; an unchanged one keeps its runs. "
                    "Ctrl-C or SIGTERM stops the worker (it drains) and the server; the data stays. Needs "
                    "the PostgreSQL server binaries (initdb, pg_ctl); no Docker.",
        example_lines="""
            pgflow dev flows:greet                # then, in another terminal in this directory:
            pgflow start greet --input '{"name": "ada"}' --wait
            pgflow dev flows:greet app/jobs.py:digest --port 54329
            pgflow dev --reset                    # wipe the data, start an empty database
            """,
    )
    p.add_argument("flows", metavar="MODULE:FLOW", nargs="*", help=FLOW_SPEC_HELP)
    p.add_argument("--port", type=_port(1), metavar="N",
                   help="PostgreSQL's port (default: the port of the last start, a free one the first time)")
    p.add_argument("--reset", action="store_true", help="wipe the data in .pgflow/ first (all flows and runs)")
    p.add_argument("--no-ui", dest="ui", action="store_false", help="do not serve the dashboard")
    p.add_argument("--ui-port", type=_port(0), default=DEFAULT_UI_PORT, metavar="N",
                   help=f"the dashboard's port; 0: a free one (default {DEFAULT_UI_PORT}, or a free one when "
                        "it is taken)")
    p.add_argument("--poll-interval", type=positive_float, default=DEFAULT_POLL_INTERVAL, metavar="S",
                   help=f"look for changed files every S seconds (default {DEFAULT_POLL_INTERVAL:g})")
    return p


def run(args: argparse.Namespace) -> int:
    from pgflow.dev.session import DevOptions, DevSession

    options = DevOptions(flows=tuple(args.flows), port=args.port, reset=args.reset, ui=args.ui,
                         ui_port=args.ui_port, poll_interval=args.poll_interval)
    return DevSession(options).run()
