"""``pgflow status``: a run, its DAG drawn as text, and a table of its steps in definition order
(or as JSON); ``--watch`` redraws on the run's events (the ``pgflow`` NOTIFY channel, and every
--interval seconds, as a map's tasks complete without step events) until the run ends."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from pgflow import queries
from pgflow.cli.dag import DagNode, draw_dag
from pgflow.cli.options import Subparsers, add_command, add_dsn, positive_float
from pgflow.cli.output import duration, json_text, short, text_table, timestamp
from pgflow.cli.run_control import retry_link_lines
from pgflow.cli.runtime import EXIT_ERROR, EXIT_OK, connect, dsn, parse_uuid, sql_error
from pgflow.errors import PgflowError
from pgflow.types import RunWithStates, StepState

CLEAR_SCREEN = "\x1b[H\x1b[2J"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "status",
        help="show a run: its DAG with each step's state, and a table of its steps",
        description="Show a run (status, timing), its DAG as a tree (each step under a dependency in the "
                    "layer above, 'needs:' naming all dependencies of a step that has several; map steps "
                    "with tasks done/total) and a table of its steps: status, tasks done/total, when it "
                    "started, how long it took, and the error or skip reason. --watch redraws as the run "
                    "progresses and exits when it ends: 0 completed, 1 failed or cancelled.",
        example_lines="""
            pgflow status 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c
            pgflow status 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c --watch
            pgflow status 0b7c4b3e-5f2d-4a8e-9c1a-2d3e4f5a6b7c --json
            """,
    )
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--output", action="store_true", help="also print the run output")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true", help="print pgflow.get_run_with_states() as JSON")
    mode.add_argument("--watch", action="store_true",
                      help="redraw until the run ends (on a terminal the screen is cleared; otherwise each "
                           "changed view is printed after a blank line)")
    p.add_argument("--interval", type=positive_float, default=2.0, metavar="S",
                   help="with --watch: redraw at least every S seconds (default 2)")
    add_dsn(p)
    return p


def run(args: argparse.Namespace) -> int:
    import psycopg

    run_id = parse_uuid(args.run_id)
    with connect(dsn(args)) as conn:
        try:
            if args.watch:
                return _watch(conn, run_id, args)
            state, graph = _read(conn, run_id)
        except psycopg.Error as exc:
            raise sql_error(exc) from exc
    if args.json:
        print(json_text({"run": state.run, "steps": _ordered(state, graph)}))
        return EXIT_OK
    print(_view(state, graph, show_output=args.output))
    return EXIT_OK


def _read(conn: Any, run_id: uuid.UUID) -> tuple[RunWithStates, list[dict[str, Any]]]:
    from psycopg.rows import dict_row

    from pgflow.client import PgflowSqlClient

    state = PgflowSqlClient(conn).get_run(run_id)
    if state is None:
        raise PgflowError(f"no run {run_id}")
    with conn.cursor(row_factory=dict_row) as cur:
        graph = cur.execute(queries.CLI_STEP_ORDER, {"flow_slug": state.run.flow_slug}).fetchall()
    return state, graph


def _watch(conn: Any, run_id: uuid.UUID, args: argparse.Namespace) -> int:
    """Redraw on each event of the run (or every --interval seconds) until it ends."""
    tty = sys.stdout.isatty()
    conn.execute(queries.LISTEN_EVENTS)
    shown = None
    while True:
        state, graph = _read(conn, run_id)
        frame = _view(state, graph, show_output=args.output)
        if frame != shown:
            prefix = CLEAR_SCREEN if tty else ("" if shown is None else "\n")
            print(prefix + frame, flush=True)
            shown = frame
        if state.run.status != "started":
            return EXIT_OK if state.run.status == "completed" else EXIT_ERROR
        for note in conn.notifies(timeout=args.interval):
            try:
                mine = json.loads(note.payload).get("run_id") == str(run_id)
            except (ValueError, AttributeError):
                mine = False
            if mine:
                break


def _ordered(state: RunWithStates, graph: list[dict[str, Any]]) -> list[StepState]:
    order = {g["step_slug"]: g["step_index"] for g in graph}
    return sorted(state.steps, key=lambda s: (order.get(s.step_slug, 1 << 30), s.step_slug))


def _view(state: RunWithStates, graph: list[dict[str, Any]], *, show_output: bool) -> str:
    r = state.run
    finished = r.completed_at or r.failed_at or r.cancelled_at
    lines = [
        f"run      {r.run_id}",
        f"flow     {r.flow_slug}",
        f"status   {r.status}" + ("" if finished else f" ({r.remaining_steps} step(s) to go)"),
        f"started  {timestamp(r.started_at)}" + (f" (took {duration(r.started_at, finished)})" if finished else ""),
        *retry_link_lines(r),
        "",
    ]
    by_slug = {s.step_slug: s for s in state.steps}
    nodes = [DagNode(g["step_slug"], tuple(g["deps"]), _dag_label(by_slug.get(g["step_slug"]), g["step_type"]))
             for g in graph]
    lines += ["  " + line for line in draw_dag(nodes, ascii=not _can_draw())]
    lines.append("")
    steps = _ordered(state, graph)
    lines.append(text_table(["STEP", "STATUS", "TASKS", "STARTED", "TOOK", "NOTE"], [_step_row(s) for s in steps]))
    if show_output and r.status == "completed":
        lines.append("\noutput: " + json.dumps(r.output, indent=2, ensure_ascii=False))
    return "\n".join(lines)


def _can_draw() -> bool:
    try:
        "├─▶│└".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _tasks(s: StepState) -> str:
    if s.initial_tasks is None:
        return "-"
    if s.remaining_tasks is None:
        return f"{s.initial_tasks if s.status == 'completed' else 0}/{s.initial_tasks}"
    return f"{s.initial_tasks - s.remaining_tasks}/{s.initial_tasks}"


def _dag_label(s: StepState | None, step_type: str) -> str:
    status = "-" if s is None else str(s.status)
    if step_type != "map":
        return status
    return f"{status} map {'?' if s is None else _tasks(s)}".replace("map -", "map ?")


def _step_row(s: StepState) -> list[object]:
    end = s.completed_at or s.failed_at or s.skipped_at
    note = s.error_message or (f"skipped: {s.skip_reason}" if s.skip_reason else "")
    return [s.step_slug, s.status, _tasks(s), timestamp(s.started_at), duration(s.started_at, end), short(note)]
