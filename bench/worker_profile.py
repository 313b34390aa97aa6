"""``python -m bench.worker_profile``: the worker's own CPU per task, and where it goes.

One :class:`pgflow.worker.Worker` runs in this process (default options unless given) and drains
``--tasks`` single-step runs of a no-op async handler, all started beforehand. Printed: the
process's CPU per task (user and system, from ``os.times`` between the worker's start and the
last completion), its voluntary and involuntary context switches per task (``/proc``), tasks/s;
with ``--profile N``, the N functions of a cProfile of the drain with the most CPU of their own
(the profiler's clock is ``time.process_time``: waiting on the server costs nothing, and every
Python call costs more than without the profiler, so the figures are shares, not timings).

    python -m bench.worker_profile [--dsn URL] [--tasks 20000] [--concurrency 10] [--batch-size 10]
                                   [--profile 25]

Without ``--dsn`` a throwaway durable PostgreSQL is started, as ``python -m bench`` does. The flow
(``bench_profile_<pid>``) is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from bench.flows import build_flow


def _context_switches() -> dict[str, int]:
    counts: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if "ctxt_switches" in line:
                    name, value = line.split(":")
                    counts[name.strip()] = int(value)
    except OSError:
        pass
    return counts


def _queue_runs(dsn: str, slug: str, tasks: int) -> Any:
    flow = build_flow("single", slug)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for stmt in flow.compile():
            conn.execute(stmt.encode())
        done = 0
        while done < tasks:
            n = min(1000, tasks - done)
            conn.execute(
                "select count(*) from (select pgflow.start_flow(flow_slug => %s, input => '{}'::jsonb) "
                "from generate_series(1, %s)) as s",
                (slug, n),
            )
            done += n
        conn.execute(f'analyze pgmq."q_{slug}"')
        conn.execute("analyze pgflow.runs, pgflow.step_states, pgflow.step_tasks")
    return flow


def drain(dsn: str, tasks: int, options: dict[str, Any], profile: cProfile.Profile | None) -> dict[str, Any]:
    """Drain ``tasks`` queued single-step runs with one worker in this process; its figures."""
    from pgflow.worker import Worker

    slug = f"bench_profile_{os.getpid()}"
    flow = _queue_runs(dsn, slug, tasks)
    worker = Worker(flow, dsn, compile="off", **options)
    figures: dict[str, Any] = {}

    async def main() -> None:
        run = asyncio.create_task(worker.run())
        await worker.started.wait()
        switches0, cpu0, wall0 = _context_switches(), os.times(), time.monotonic()
        if profile is not None:
            profile.enable()
        while worker.stats["completed"] < tasks:
            await asyncio.sleep(0.05)
        if profile is not None:
            profile.disable()
        switches1, cpu1, wall1 = _context_switches(), os.times(), time.monotonic()
        figures.update(
            user_ms_per_task=(cpu1.user - cpu0.user) * 1000 / tasks,
            system_ms_per_task=(cpu1.system - cpu0.system) * 1000 / tasks,
            tasks_per_s=tasks / (wall1 - wall0),
            **{f"{k}_per_task": (switches1[k] - switches0[k]) / tasks for k in switches0},
        )
        worker.stop()
        await run

    try:
        asyncio.run(main())
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("select pgflow.delete_flow_and_data(p_flow_slug => %s)", (slug,))
            conn.execute("delete from pgflow.workers as w where w.queue_name = %s", (slug,))
    figures["cpu_ms_per_task"] = figures["user_ms_per_task"] + figures["system_ms_per_task"]
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker_profile", description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", help="an existing database (migrated here if needed); default: a throwaway server")
    p.add_argument("--tasks", type=int, default=20000, help="single-step runs to drain (default 20000)")
    p.add_argument("--concurrency", type=int, help="the worker's concurrency (default: the worker's)")
    p.add_argument("--batch-size", type=int, help="the worker's batch_size (default: the worker's)")
    p.add_argument("--profile", type=int, metavar="N", help="print the N functions with the most CPU of their own")
    args = p.parse_args(argv)
    options = {k: v for k, v in (("concurrency", args.concurrency), ("batch_size", args.batch_size)) if v}

    from pgflow import migrator

    pg = None
    try:
        if args.dsn:
            dsn = args.dsn
        else:
            from pgflow.embedded import EmbeddedPostgres

            pg = EmbeddedPostgres(fast=False).start()
            pg.wait_ready()
            dsn = pg.dsn
        migrator.migrate(dsn)
        profile = cProfile.Profile(time.process_time) if args.profile else None
        figures = drain(dsn, args.tasks, options, profile)
    finally:
        if pg is not None:
            pg.stop()
    print(
        f"{args.tasks} tasks, options {options or 'default'}: worker CPU {figures['cpu_ms_per_task']:.4f} ms/task "
        f"(user {figures['user_ms_per_task']:.4f}, system {figures['system_ms_per_task']:.4f}), "
        f"context switches per task {figures.get('voluntary_ctxt_switches_per_task', 0):.3f} voluntary, "
        f"{figures.get('nonvoluntary_ctxt_switches_per_task', 0):.3f} involuntary; "
        f"{figures['tasks_per_s']:.0f} tasks/s; load average {os.getloadavg()[0]:.2f}"
    )
    if profile is not None:
        pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
