"""``pgflow ui``: serve the web dashboard (package pgflow.ui, the ``ui`` extra) until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse

from pgflow.cli.options import Subparsers, add_command


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from pgflow.ui import add_arguments  # pgflow.ui imports no web package until it serves

    p = add_command(
        subparsers, "ui",
        help="serve the web dashboard: runs, their DAGs live, flows, workers",
        description="Serve the dashboard over HTTP until Ctrl-C or SIGTERM. Needs the ui extra "
                    "(pip install 'pgflow-py[ui]'). Actions (start, cancel, retry, resume) need a token; "
                    "--read-only serves without one and offers no action. It connects with the role of the "
                    "database URL: a role made with pgflow.grant_viewer() is enough for --read-only.",
        example_lines="""
            PGFLOW_UI_TOKEN=change-me pgflow ui --dsn postgresql://app@localhost/app
            pgflow ui --read-only --dsn postgresql://viewer@localhost/app --port 9000
            """,
    )
    add_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    from pgflow import ui

    # uvicorn logs where it listens (the CLI logs at INFO for this command); errors are PgflowError,
    # among them the missing extra ("pip install 'pgflow-py[ui]'")
    return ui.run(args)
