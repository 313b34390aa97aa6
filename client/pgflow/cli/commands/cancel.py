"""``pgflow cancel RUN_ID``: stop a started run (``pgflow.cancel_run``); print the run."""

from __future__ import annotations

import argparse

from pgflow.cli.options import Subparsers
from pgflow.cli.run_control import add_run_command, call_and_print


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    return add_run_command(
        subparsers, "cancel",
        help="cancel a started run",
        description="Cancel a started run: it ends `cancelled`, with its unfinished steps and tasks; their queued "
                    "messages are archived, so no worker starts more of its work, and a handler still running "
                    "for it reports into nothing. A finished run is printed unchanged.",
    )


def run(args: argparse.Namespace) -> int:
    return call_and_print(args, "cancel_run")
