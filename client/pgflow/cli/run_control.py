"""What ``pgflow cancel``, ``pgflow retry`` and ``pgflow resume`` share: their parser (a run id,
``--json``) and how they call the client and print the run that results."""

from __future__ import annotations

import argparse

from pgflow.cli.options import Subparsers, add_command, add_dsn
from pgflow.cli.output import json_text, timestamp
from pgflow.cli.runtime import EXIT_OK, connect, dsn, parse_uuid
from pgflow.types import Run


def add_run_command(subparsers: Subparsers, name: str, *, help: str, description: str) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, name, help=help, description=description,
        example_lines=f"""
            pgflow {name} 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c
            pgflow {name} 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c --json
            """,
    )
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--json", action="store_true", help="print the resulting run (a pgflow.runs row) as JSON")
    add_dsn(p)
    return p


def call_and_print(args: argparse.Namespace, method: str) -> int:
    """``PgflowSqlClient.<method>(run_id)``, then the run it returns (text or ``--json``)."""
    from pgflow.client import PgflowSqlClient

    run_id = parse_uuid(args.run_id)
    with connect(dsn(args)) as conn:
        run: Run = getattr(PgflowSqlClient(conn), method)(run_id)
    print(json_text(run) if args.json else run_text(run))
    return EXIT_OK


def run_text(run: Run) -> str:
    lines = [
        f"run      {run.run_id}",
        f"flow     {run.flow_slug}",
        f"status   {run.status}" + (f" ({run.remaining_steps} step(s) to go)" if run.status == "started" else ""),
        f"started  {timestamp(run.started_at)}",
    ]
    if run.cancelled_at is not None:
        lines.append(f"cancelled {timestamp(run.cancelled_at)}")
    lines.extend(retry_link_lines(run))
    return "\n".join(lines)


def retry_link_lines(run: Run) -> list[str]:
    """The retry link of a run (``pgflow.retry_run``), both ways, when there is one."""
    lines = []
    if run.retry_of_run_id is not None:
        lines.append(f"retried from {run.retry_of_run_id}")
    if run.retried_by_run_id is not None:
        lines.append(f"retried as   {run.retried_by_run_id}")
    return lines
