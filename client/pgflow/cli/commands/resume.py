"""``pgflow resume RUN_ID``: continue a failed or cancelled run (``pgflow.resume_run``); print it."""

from __future__ import annotations

import argparse

from pgflow.cli.options import Subparsers
from pgflow.cli.run_control import add_run_command, call_and_print


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    return add_run_command(
        subparsers, "resume",
        help="continue a failed or cancelled run where it stopped",
        description="Continue a failed or cancelled run, the same run: completed steps and completed map tasks "
                    "keep their outputs and are not run again; failed, cancelled and never-started work is queued "
                    "again with fresh attempts. A started or completed run is printed unchanged.",
    )


def run(args: argparse.Namespace) -> int:
    return call_and_print(args, "resume_run")
