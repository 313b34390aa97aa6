"""``pgflow maintain``: the stalled-task sweep on its own, for deployments without pg_cron and
without workers that sweep (every worker sweeps by default)."""

from __future__ import annotations

import argparse
import signal
import threading

from pgflow.cli.options import Subparsers, add_command, add_dsn, positive_float
from pgflow.cli.runtime import EXIT_OK, connect, dsn, err


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "maintain",
        help="requeue stalled tasks periodically (plain PostgreSQL without pg_cron)",
        description="Call pgflow.requeue_stalled_tasks() every --interval seconds: tasks started longer ago than "
                    "their flow's timeout + 30 s (a worker died) go back to the queue, at most 3 times. At most one "
                    "caller sweeps at a time (advisory lock). Workers already do this by default; on Supabase "
                    "pg_cron does it every 15 s.",
        example_lines="""
            pgflow maintain --dsn postgresql://app@localhost/app
            pgflow maintain --once
            """,
    )
    add_dsn(p)
    p.add_argument("--interval", type=positive_float, default=15.0, metavar="S",
                   help="seconds between sweeps (default 15)")
    p.add_argument("--once", action="store_true", help="sweep once and exit")
    return p


def run(args: argparse.Namespace) -> int:
    from pgflow.client import PgflowSqlClient

    url = dsn(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    total = 0
    with connect(url) as conn:
        client = PgflowSqlClient(conn)
        while True:
            requeued = client.requeue_stalled_tasks()
            if requeued is None:
                err("pgflow maintain: another session is sweeping; skipped")
            elif requeued or args.once:
                total += requeued
                err(f"pgflow maintain: requeued {requeued} stalled task(s)")
            if args.once or stop.wait(args.interval):
                break
    if not args.once:
        err(f"pgflow maintain: stopped ({total} task(s) requeued in all)")
    return EXIT_OK
