"""``pgflow runs``: recent runs, newest first, filtered by flow and status (or as JSON)."""

from __future__ import annotations

import argparse

from pgflow import queries
from pgflow.cli.options import Subparsers, add_command, add_dsn, positive_int
from pgflow.cli.output import duration, json_text, text_table, timestamp
from pgflow.cli.runtime import EXIT_OK, connect, dsn, err, sql_error

RUN_STATUSES = ("started", "completed", "failed", "cancelled")


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "runs",
        help="list recent runs",
        description="List runs, newest first.",
        example_lines="""
            pgflow runs
            pgflow runs --flow greet --status failed --limit 50
            """,
    )
    p.add_argument("--flow", metavar="FLOW", help="only runs of this flow")
    p.add_argument("--status", choices=RUN_STATUSES, help="only runs with this status")
    p.add_argument("--limit", type=positive_int, default=20, metavar="N", help="at most N runs (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_dsn(p)
    return p


def run(args: argparse.Namespace) -> int:
    import psycopg
    from psycopg.rows import dict_row

    with connect(dsn(args)) as conn:
        try:  # pgflow.client has no run listing (yet)
            with conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    queries.CLI_LIST_RUNS, {"flow_slug": args.flow, "status": args.status, "limit": args.limit}
                ).fetchall()
        except psycopg.Error as exc:
            raise sql_error(exc) from exc
    if args.json:
        print(json_text(rows))
        return EXIT_OK
    if not rows:
        err("no runs" + (" matching the filters" if args.flow or args.status else ""))
        return EXIT_OK
    print(text_table(
        ["RUN_ID", "FLOW", "STATUS", "STARTED", "TOOK", "REMAINING"],
        [[r["run_id"], r["flow_slug"], r["status"], timestamp(r["started_at"]),
          duration(r["started_at"], r["finished_at"]), r["remaining_steps"] if r["status"] == "started" else ""]
         for r in rows],
    ))
    return EXIT_OK
