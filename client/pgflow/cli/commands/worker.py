"""``pgflow worker``: serve one or more flows until SIGTERM/Ctrl-C (the first drains, a second aborts)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from pgflow.cli.commands.prune import duration_arg
from pgflow.cli.flows import load_flow
from pgflow.cli.options import (
    FLOW_SPEC_HELP,
    Subparsers,
    add_command,
    add_dsn,
    non_negative_float,
    positive_float,
    positive_int,
)
from pgflow.cli.runtime import EXIT_INTERRUPTED, dsn, err
from pgflow.cli.signals import run_until_signalled
from pgflow.errors import PgflowError
from pgflow.worker import options as defaults

# option dest -> Worker keyword; only the options the user gave reach the worker, which owns its defaults
_WORKER_OPTIONS = (
    "concurrency", "batch_size", "visibility_timeout", "max_poll_seconds", "poll_interval_ms", "compile",
    "allow_data_loss", "shutdown_grace", "maintenance_interval", "dead_worker_timeout", "recover_dead_workers",
    "schedule_tick_interval", "metrics_port", "retention",
)


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "worker",
        help="run a worker for one or more flows until SIGTERM/Ctrl-C",
        description="Poll the flows' queues and run their step handlers. On start the worker compiles each "
                    "flow into the database, or verifies that the compiled flow matches the code. The first "
                    "SIGTERM or Ctrl-C stops polling and waits for in-flight tasks; a second one aborts.",
        example_lines="""
            pgflow worker myapp.flows:greet
            pgflow worker myapp.flows:greet myapp.flows:digest --concurrency 20 --batch-size 20
            """,
    )
    p.add_argument("flows", metavar="MODULE:FLOW", nargs="+", help=FLOW_SPEC_HELP)
    add_dsn(p)
    p.add_argument("--concurrency", type=positive_int, metavar="N",
                   help=f"handlers running at once (default {defaults.DEFAULT_CONCURRENCY})")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help=f"messages read per poll (default {defaults.DEFAULT_BATCH_SIZE})")
    p.add_argument("--visibility-timeout", type=positive_int, metavar="S",
                   help="seconds a message read but not started stays hidden (a started task's message "
                        f"stays hidden for its step's timeout + 2 s) (default {defaults.DEFAULT_VISIBILITY_TIMEOUT})")
    p.add_argument("--max-poll-seconds", type=non_negative_float, metavar="S",
                   help=f"longest wait for messages in one poll (default {defaults.DEFAULT_MAX_POLL_SECONDS:g})")
    p.add_argument("--poll-interval-ms", type=positive_int, metavar="MS",
                   help=f"pause between queue checks within one poll (default {defaults.DEFAULT_POLL_INTERVAL_MS})")
    p.add_argument("--compile", choices=("auto", "verify", "off"),
                   help="auto: create a missing flow, refuse a changed one; verify: only compare; "
                        f"off: trust that migrations created the flows (default {defaults.DEFAULT_COMPILE})")
    p.add_argument("--allow-data-loss", action="store_true",
                   help="with --compile auto: drop and recreate a flow whose definition changed, WITH ALL ITS RUNS")
    p.add_argument("--shutdown-grace", type=non_negative_float, metavar="S",
                   help="on stop, wait up to S seconds for in-flight tasks "
                        f"(default {defaults.DEFAULT_SHUTDOWN_GRACE:g})")
    p.add_argument("--maintenance-interval", type=non_negative_float, metavar="S",
                   help="run the stalled-task sweep (pgflow.requeue_stalled_tasks) every S seconds, at most "
                        "one worker at a time; 0 disables it, e.g. where pg_cron runs it "
                        f"(default {defaults.DEFAULT_MAINTENANCE_INTERVAL:g})")
    p.add_argument("--dead-worker-timeout", type=positive_float, metavar="S",
                   help="requeue at once the tasks of a worker (of the same function name) whose last heartbeat "
                        "is older than S seconds and that did not stop; swept every heartbeat interval "
                        "(default: 3 heartbeat intervals, 15)")
    p.add_argument("--no-dead-worker-recovery", dest="recover_dead_workers", action="store_const", const=False,
                   help="leave dead workers' tasks to the stalled-task sweep (flow timeout + 30 s)")
    p.add_argument("--schedule-tick-interval", type=non_negative_float, metavar="S",
                   help="start the runs schedules owe (pgflow.tick_schedules) every S seconds; any number of "
                        "workers may tick, each time starts once; 0 disables it "
                        f"(default {defaults.DEFAULT_SCHEDULE_TICK_INTERVAL:g})")
    p.add_argument("--metrics-port", type=port_number, metavar="PORT",
                   help="serve Prometheus metrics (task counters and durations, queue depth) on "
                        "http://<any interface>:PORT/metrics; needs pgflow-py[prometheus] (default: off)")
    p.add_argument("--retention", type=duration_arg, metavar="DURATION",
                   help="also delete finished runs older than DURATION (30m, 12h, 7d) in each maintenance sweep "
                        "(pgflow.prune_runs, in short batches); default: keep them")
    return p


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port number (1-65535), got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    flows = [load_flow(spec) for spec in args.flows]
    slugs = [f.slug for f in flows]
    dupes = sorted({s for s in slugs if slugs.count(s) > 1})
    if dupes:
        raise PgflowError(f"flow {', '.join(map(repr, dupes))} given more than once")
    url = dsn(args)
    from pgflow.worker import Worker

    given = {name: getattr(args, name) for name in _WORKER_OPTIONS}
    given["allow_data_loss"] = given["allow_data_loss"] or None  # a flag: absent means the worker's default
    try:
        worker = Worker(flows, url, **{k: v for k, v in given.items() if v is not None})
    except ImportError as exc:  # an optional extra (--metrics-port) that is not installed
        err(f"pgflow worker: {exc}")
        return 1
    except ValueError as exc:  # options that contradict each other (--retention with --maintenance-interval 0)
        raise PgflowError(str(exc)) from None
    err(f"pgflow worker: serving {', '.join(slugs)} (Ctrl-C or SIGTERM drains in-flight tasks and stops)")
    code = asyncio.run(run_until_signalled(worker))
    if code == EXIT_INTERRUPTED:
        # Aborted with handlers still running. A sync handler's thread cannot be interrupted, and
        # the interpreter would join it at exit: leave without waiting (its task is abandoned
        # unreported; its message becomes visible again, requeue_stalled_tasks recovers it).
        err("pgflow worker: aborted")
        sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)
    err("pgflow worker: stopped")
    return code
