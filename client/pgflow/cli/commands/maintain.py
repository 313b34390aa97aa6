"""``pgflow maintain``: the workers' maintenance sweep on its own, for deployments without pg_cron
and without workers that sweep (every worker sweeps by default): stalled tasks, the tasks of
dead workers, and tasks stalled past the requeue limit."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TYPE_CHECKING

from pgflow.cli.options import Subparsers, add_command, add_dsn, positive_float
from pgflow.cli.runtime import EXIT_OK, connect, dsn, err

if TYPE_CHECKING:
    from pgflow.client import PgflowSqlClient

# The worker's defaults (pgflow.worker.options: DEFAULT_DEAD_WORKER_HEARTBEATS x
# DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_FUNCTION_NAME), spelled out so that `pgflow --help` does not
# import the worker; tests/unit/test_recovery_options.py checks that they agree.
DEAD_WORKER_HEARTBEATS = 3
DEAD_AFTER = 15.0
FUNCTION_NAME = "pgflow-py"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "maintain",
        help="recover stalled tasks and dead workers' tasks periodically (plain PostgreSQL without pg_cron)",
        description="Every --interval seconds: pgflow.requeue_stalled_tasks() (tasks started longer ago than "
                    "their flow's timeout + 30 s go back to the queue, at most 3 times); "
                    "pgflow.requeue_dead_worker_tasks() (the tasks of workers of --function-name whose heartbeat "
                    "is older than --dead-worker-timeout and which did not stop go back at once); "
                    "pgflow.fail_stalled_tasks() (a task stalled past the limit fails, and its run with it). At "
                    "most one caller sweeps at a time (advisory lock). Workers already do this by default.",
        example_lines="""
            pgflow maintain --dsn postgresql://app@localhost/app
            pgflow maintain --once --dead-worker-timeout 30
            """,
    )
    add_dsn(p)
    p.add_argument("--interval", type=positive_float, default=15.0, metavar="S",
                   help="seconds between sweeps (default 15)")
    p.add_argument("--once", action="store_true", help="sweep once and exit")
    p.add_argument("--dead-worker-timeout", type=positive_float, default=DEAD_AFTER, metavar="S",
                   help="a worker whose last heartbeat is older than S seconds and that did not stop is dead "
                        f"(default {DEAD_AFTER:g}: {DEAD_WORKER_HEARTBEATS} heartbeat intervals of the "
                        "workers' default; must exceed the workers' heartbeat interval)")
    p.add_argument("--function-name", default=FUNCTION_NAME, metavar="NAME",
                   help="judge only workers registered under this function_name "
                        f"(default {FUNCTION_NAME!r}, pgflow-py's workers)")
    p.add_argument("--no-dead-workers", dest="dead_workers", action="store_false",
                   help="do not requeue dead workers' tasks (the stall sweep only)")
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
            else:
                if requeued or args.once:
                    err(f"pgflow maintain: requeued {requeued} stalled task(s)")
                total += requeued
                if args.dead_workers:
                    total += _dead_workers(client, args)
                for t in client.fail_stalled_tasks() or ():
                    err(f"pgflow maintain: task {t.step_slug}[{t.task_index}] of run {t.run_id} stalled "
                        f"{t.stalled_count} times: failed (step {t.step_status.value}, run {t.run_status.value})")
            if args.once or stop.wait(args.interval):
                break
    if not args.once:
        err(f"pgflow maintain: stopped ({total} task(s) requeued in all)")
    return EXIT_OK


def _dead_workers(client: PgflowSqlClient, args: argparse.Namespace) -> int:
    tasks = client.requeue_dead_worker_tasks(args.dead_worker_timeout, args.function_name) or []
    workers = sorted({t.worker_id for t in tasks})
    for wid in workers:
        held = [t for t in tasks if t.worker_id == wid]
        requeued = sum(t.outcome == "requeued" for t in held)
        err(f"pgflow maintain: worker {wid} is dead (no heartbeat for over {args.dead_worker_timeout:g} s): "
            f"requeued {requeued} of its task(s)"
            + (f", {len(held) - requeued} more stalled past the requeue limit" if len(held) > requeued else ""))
    if args.once and not workers:
        err("pgflow maintain: no dead worker")
    return sum(t.outcome == "requeued" for t in tasks)
