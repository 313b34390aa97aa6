"""Kill-every-few-seconds recovery benchmark (issue 21). Not a test: run it on purpose.

    python -m tests.bench.recovery_chaos [--mode before|after|both] [--runs 300] [--size 4] [--dsn URL]

Four worker processes serve `rel_chaos` (a root map, timeout 5 s, handlers of 0.2-1.0 s) while
the driver SIGKILLs one of them every 3-5 s and starts a replacement. For every task a killed
worker held, it measures the time from the kill to the first execution of that task that began
after it (the handler's entry row in `rel_effects`), and prints a table per mode:

  before  recovery as pgflow has it: the workers' maintenance loop runs requeue_stalled_tasks
          (every second here), which requeues a task its flow's timeout + 30 s after it started
          (the workers run with recover_dead_workers=False);
  after   the workers' own dead-worker sweep on as well (the default): requeue_dead_worker_tasks
          with dead_worker_timeout 3 s (3 heartbeat intervals) and fail_stalled_tasks, every
          heartbeat interval (1 s).

Each mode gets a fresh database on the server (`--dsn`, default: an embedded server started from
the local binaries), dropped at the end. Also printed: runs completed, tasks completed twice in
the database (must be 0), duplicate handler executions (at-least-once after a kill), and the
highest read_ct of the flow's archived messages.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from pgflow import migrator
from pgflow.embedded import EmbeddedPostgres
from pgflow.pgmq_install import ensure_pgmq
from tests.support import recovery_flows
from tests.support import reliability_flows as flows
from tests.support.processes import WorkerProcess, spawn_worker, stop_all
from tests.support.sql import compile_flow, start_flow

WORKERS = 4
HEARTBEAT = 1.0
THRESHOLD = 3.0
OPTIONS = {
    "concurrency": 4, "batch_size": 4, "visibility_timeout": 5, "max_poll_seconds": 0.5, "poll_interval_ms": 50,
    "heartbeat_interval": HEARTBEAT, "dead_worker_timeout": THRESHOLD, "maintenance_interval": 1.0, "shutdown_grace": 3,
}


@contextmanager
def server(dsn: str | None) -> Iterator[str]:
    if dsn:
        yield dsn
        return
    pg = EmbeddedPostgres().start()
    try:
        yield f"postgresql://{pg.user}@127.0.0.1:{pg.port}/postgres"
    finally:
        pg.stop()


@contextmanager
def fresh_database(admin_dsn: str, name: str) -> Iterator[str]:
    with psycopg.connect(admin_dsn, autocommit=True) as c:
        c.execute(f'create database "{name}"')
    dsn = make_conninfo(admin_dsn, dbname=name)
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            ensure_pgmq(c, prefer_extension=False)
        migrator.migrate(dsn, install_pgmq=False)
        yield dsn
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as c:
            c.execute(f'drop database if exists "{name}" with (force)')


def run_mode(admin_dsn: str, mode: str, runs: int, size: int, tmp: Path, deadline_s: float) -> dict[str, Any]:
    with fresh_database(admin_dsn, f"pgflow_chaos_{mode}_{uuid.uuid4().hex[:8]}") as dsn, \
            psycopg.connect(dsn, autocommit=True) as conn:
        flows.create_effects_table(conn)
        compile_flow(conn, recovery_flows.chaos)
        rng = random.Random(21)
        tags: dict[Any, str] = {}
        for n in range(runs):
            tag = f"c{n}"
            items = [{"tag": tag, "i": i, "ms": rng.randint(200, 1000)} for i in range(size)]
            tags[start_flow(conn, "rel_chaos", items)["run_id"]] = tag

        procs: dict[int, WorkerProcess] = {}
        worker_ids: dict[int, uuid.UUID] = {}
        generation = dict.fromkeys(range(WORKERS), 0)

        def spawn(slot: int) -> None:
            name = f"chaos-{mode}-{slot}-{generation[slot]}"
            worker_ids[slot] = uuid.uuid4()
            procs[slot] = spawn_worker(dsn, "tests.support.recovery_flows:chaos", tmp, name=name,
                                       worker_id=worker_ids[slot], recover_dead_workers=mode == "after", **OPTIONS)

        for slot in range(WORKERS):
            spawn(slot)
        kills: list[tuple[Any, list[tuple[str, int]]]] = []
        started = time.monotonic()
        try:
            while time.monotonic() - started < deadline_s:
                time.sleep(rng.uniform(3, 5))  # the load: a kill every 3-5 s (a driver, not a test)
                left = conn.execute("select count(*) from pgflow.runs where status = 'started'").fetchone()
                if left is None or left[0] == 0:
                    break
                slot = rng.randrange(WORKERS)
                procs[slot].kill()
                killed_at = conn.execute("select clock_timestamp()").fetchone()[0]  # type: ignore[index]
                held = conn.execute(
                    "select t.run_id, t.task_index from pgflow.step_tasks as t "
                    "where t.status = 'started' and t.last_worker_id = %s", (worker_ids[slot],)).fetchall()
                kills.append((killed_at, [(tags[r], i) for r, i in held]))
                generation[slot] += 1
                spawn(slot)
            while time.monotonic() - started < deadline_s:  # no more kills: let the runs finish
                left = conn.execute("select count(*) from pgflow.runs where status = 'started'").fetchone()
                if left is None or left[0] == 0:
                    break
                time.sleep(0.5)
        finally:
            stop_all(procs.values())

        waits = []
        for killed_at, held in kills:
            for tag, idx in held:
                row = conn.execute(
                    "select min(at) from public.rel_effects where tag = %s and step = 'work' and idx = %s and at > %s",
                    (tag, idx, killed_at)).fetchone()
                if row and row[0] is not None:
                    waits.append((row[0] - killed_at).total_seconds())
        status = dict(conn.execute("select status, count(*) from pgflow.runs group by status").fetchall())
        twice = conn.execute(
            "select count(*) from (select 1 from pgflow.step_tasks where status = 'completed' "
            "group by run_id, step_slug, task_index having count(*) > 1) as d").fetchone()[0]  # type: ignore[index]
        executions = conn.execute("select count(*) from public.rel_effects").fetchone()[0]  # type: ignore[index]
        max_read_ct = conn.execute("select max(read_ct) from pgmq.a_rel_chaos").fetchone()[0]  # type: ignore[index]
        return {
            "mode": mode, "runs": runs, "tasks": runs * size, "kills": len(kills),
            "tasks held at kills": sum(len(h) for _, h in kills), "running again": len(waits),
            "max kill->running again s": round(max(waits), 2) if waits else None,
            "median s": round(statistics.median(waits), 2) if waits else None,
            "runs completed": status.get("completed", 0), "runs failed": status.get("failed", 0),
            "runs still started": status.get("started", 0), "tasks completed twice": twice,
            "duplicate executions": executions - runs * size, "max read_ct": max_read_ct,
            "wall s": round(time.monotonic() - started, 1),
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--mode", choices=("before", "after", "both"), default="both")
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--size", type=int, default=4, help="map elements per run")
    p.add_argument("--deadline", type=float, default=300.0, help="seconds per mode at most")
    p.add_argument("--dsn", help="a server to create the databases on (default: an embedded one)")
    args = p.parse_args(argv)
    modes = ("before", "after") if args.mode == "both" else (args.mode,)
    rows = []
    with server(args.dsn) as admin, tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            rows.append(run_mode(admin, mode, args.runs, args.size, Path(tmp), args.deadline))
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    for k in keys:
        print(f"{k:<{width}}  " + "  ".join(f"{r[k]!s:>12}" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
