"""``pgflow status``: a run and a table of its steps, in definition order (or as JSON)."""

from __future__ import annotations

import argparse
import json

from pgflow import queries
from pgflow.cli.options import Subparsers, add_command, add_dsn
from pgflow.cli.output import duration, json_text, short, text_table, timestamp
from pgflow.cli.run_control import retry_link_lines
from pgflow.cli.runtime import EXIT_OK, connect, dsn, parse_uuid, sql_error
from pgflow.errors import PgflowError
from pgflow.types import StepState


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "status",
        help="show a run and the state of each of its steps",
        description="Show a run (status, timing) and a table of its steps: status, tasks done/total, "
                    "when it started, how long it took, and the error or skip reason.",
        example_lines="""
            pgflow status 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c
            pgflow status 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c --json
            """,
    )
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--output", action="store_true", help="also print the run output")
    p.add_argument("--json", action="store_true", help="print pgflow.get_run_with_states() as JSON")
    add_dsn(p)
    return p


def run(args: argparse.Namespace) -> int:
    import psycopg
    from psycopg.rows import dict_row

    from pgflow.client import PgflowSqlClient

    run_id = parse_uuid(args.run_id)
    with connect(dsn(args)) as conn:
        state = PgflowSqlClient(conn).get_run(run_id)
        if state is None:
            raise PgflowError(f"no run {run_id}")
        try:  # definition order; get_run_with_states does not say
            with conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(queries.CLI_STEP_ORDER, {"flow_slug": state.run.flow_slug}).fetchall()
        except psycopg.Error as exc:
            raise sql_error(exc) from exc
    order = {r["step_slug"]: r["step_index"] for r in rows}
    steps = sorted(state.steps, key=lambda s: (order.get(s.step_slug, 1 << 30), s.step_slug))
    if args.json:
        print(json_text({"run": state.run, "steps": steps}))
        return EXIT_OK
    r = state.run
    finished = r.completed_at or r.failed_at or r.cancelled_at
    print(f"run      {r.run_id}")
    print(f"flow     {r.flow_slug}")
    print(f"status   {r.status}" + ("" if finished else f" ({r.remaining_steps} step(s) to go)"))
    took = f" (took {duration(r.started_at, finished)})" if finished else ""
    print(f"started  {timestamp(r.started_at)}{took}")
    for line in retry_link_lines(r):
        print(line)
    print()
    print(text_table(["STEP", "STATUS", "TASKS", "STARTED", "TOOK", "NOTE"], [_step_row(s) for s in steps]))
    if args.output and r.status == "completed":
        print("\noutput: " + json.dumps(r.output, indent=2, ensure_ascii=False))
    return EXIT_OK


def _step_row(s: StepState) -> list[object]:
    if s.initial_tasks is None:
        tasks = "-"
    elif s.remaining_tasks is None:
        tasks = f"{s.initial_tasks if s.status == 'completed' else 0}/{s.initial_tasks}"
    else:
        tasks = f"{s.initial_tasks - s.remaining_tasks}/{s.initial_tasks}"
    end = s.completed_at or s.failed_at or s.skipped_at
    note = s.error_message or (f"skipped: {s.skip_reason}" if s.skip_reason else "")
    return [s.step_slug, s.status, tasks, timestamp(s.started_at), duration(s.started_at, end), short(note)]
