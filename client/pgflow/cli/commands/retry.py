"""``pgflow retry RUN_ID``: a new run of a failed or cancelled run (``pgflow.retry_run``); print it."""

from __future__ import annotations

import argparse

from pgflow.cli.options import Subparsers
from pgflow.cli.run_control import add_run_command, call_and_print


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    return add_run_command(
        subparsers, "retry",
        help="start a failed or cancelled run again, as a new run",
        description="Start a new run of a failed or cancelled run's flow with the same input and print it; the new "
                    "run is linked to the old one (`pgflow status` shows `retried from` / `retried as`). A run "
                    "retried already prints its retry and starts nothing.",
    )


def run(args: argparse.Namespace) -> int:
    return call_and_print(args, "retry_run")
