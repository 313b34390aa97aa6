"""``pgflow inspect``: what went wrong in a run: its failed steps, and each failed (or retried)
task with its error, attempts and timings; ``--json`` with ISO 8601 UTC timestamps."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import textwrap
from typing import Any

from pgflow import queries
from pgflow.cli.options import Subparsers, add_command, add_dsn, positive_int
from pgflow.cli.output import duration, timestamp
from pgflow.cli.runtime import EXIT_OK, connect, dsn, parse_uuid, sql_error
from pgflow.errors import PgflowError


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "inspect",
        help="list a run's failed tasks with their errors, attempts and timings",
        description="Show what went wrong in a run: its failed steps, every task that failed for good "
                    "(attempts used, when it was queued, started and failed, the worker, the full error), "
                    "then the tasks that failed an attempt and were retried. Text times are local; "
                    "--json gives ISO 8601 UTC.",
        example_lines="""
            pgflow inspect 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c
            pgflow inspect 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c --json | jq '.failed_tasks[].error_message'
            """,
    )
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--limit", type=positive_int, default=100, metavar="N",
                   help="show at most N tasks (default 100)")
    p.add_argument("--json", action="store_true", help="print JSON (timestamps in ISO 8601 UTC)")
    add_dsn(p)
    return p


def run(args: argparse.Namespace) -> int:
    import psycopg
    from psycopg.rows import dict_row

    run_id = parse_uuid(args.run_id)
    with connect(dsn(args)) as conn:
        try:
            with conn.cursor(row_factory=dict_row) as cur:
                run_row = cur.execute(queries.CLI_INSPECT_RUN, {"run_id": run_id}).fetchone()
                if run_row is None:
                    raise PgflowError(f"no run {run_id}")
                steps = cur.execute(queries.CLI_FAILED_STEPS, {"run_id": run_id}).fetchall()
                tasks = cur.execute(queries.CLI_FAILED_TASKS, {"run_id": run_id, "limit": args.limit + 1}).fetchall()
        except psycopg.Error as exc:
            raise sql_error(exc) from exc
    more = len(tasks) > args.limit
    tasks = tasks[: args.limit]
    failed = [t for t in tasks if t["status"] == "failed"]
    retried = [t for t in tasks if t["status"] != "failed"]
    if args.json:
        print(json.dumps({
            "run": _utc(run_row), "failed_steps": [_utc(s) for s in steps],
            "failed_tasks": [_utc(t) for t in failed], "retried_tasks": [_utc(t) for t in retried],
            "truncated": more,
        }, indent=2, ensure_ascii=False))
        return EXIT_OK
    r = run_row
    finished = r["completed_at"] or r["failed_at"] or r["cancelled_at"]
    print(f"run      {r['run_id']}")
    print(f"flow     {r['flow_slug']}")
    print(f"status   {r['status']}" + (f" (took {duration(r['started_at'], finished)})" if finished else ""))
    for s in steps:
        print(f"\nstep {s['step_slug']} failed at {timestamp(s['failed_at'])}")
        print(_indent(s["error_message"]))
    if not failed and not retried:
        print("\nno failed tasks")
    for title, group in (("failed", failed), ("failed an attempt, then retried", retried)):
        if group:
            print(f"\n{len(group)} task(s) {title}:")
        for t in group:
            print(_task_block(t))
    if more:
        print(f"\n(more tasks not shown: --limit {args.limit})")
    return EXIT_OK


def _task_block(t: dict[str, Any]) -> str:
    end = t["failed_at"] or t["completed_at"]
    lines = [
        f"\n  {t['step_slug']}[{t['task_index']}]  {t['status']}, attempt {t['attempts_count']} of {t['max_attempts']}"
        + (f", requeued {t['requeued_count']}x" if t["requeued_count"] else ""),
        f"    queued   {timestamp(t['queued_at'])}",
        f"    started  {timestamp(t['started_at'])}",
    ]
    if t["failed_at"]:
        lines.append(f"    failed   {timestamp(t['failed_at'])} (ran {duration(t['started_at'], end)})")
    elif t["completed_at"]:
        lines.append(f"    done     {timestamp(t['completed_at'])} (ran {duration(t['started_at'], end)})")
    lines.append(f"    worker   {t['last_worker_id'] or '-'}")
    lines.append("    error    " + _indent(t["error_message"], 13).lstrip())
    return "\n".join(lines)


def _indent(text: str | None, width: int = 2) -> str:
    return textwrap.indent((text or "(no message)").rstrip("\n"), " " * width)


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """The row as JSON-ready values: timestamps in ISO 8601 UTC ("Z"), UUIDs as text."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        elif value is not None and not isinstance(value, str | int | float | bool | list | dict):
            value = str(value)
        out[key] = value
    return out
