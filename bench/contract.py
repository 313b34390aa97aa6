"""Scenario 6: the contract path, as pgflow's TypeScript worker (or any client of the SQL API in
another language) drives it: ``pgmq.read`` of up to 10 messages, one ``pgflow.start_tasks`` for
them, then one ``pgflow.complete_task`` per task, each its own transaction. K such emulated workers
(one process and one connection each, no handler machinery) drain a single-step flow, a 5-step
chain, and a map of ``--map-size`` elements with a join step; each figure beside its raw pgmq floor.

The runs of the single-step flow are started one ``start_flow`` call (one transaction) each, as
clients start them: that gives ``start_flow``'s runs/s and the server's CPU per run as well.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg

from bench.processes import ProcessGroup, server_cpu_s, spawn_group
from bench.scenarios import Bench

READ = "select msg_id from pgmq.read(queue_name => %s::text, vt => 30, qty => %s::int)"
START_TASKS = (
    "select run_id, step_slug, task_index from pgflow.start_tasks(flow_slug => %s, msg_ids => %s::bigint[], "
    "worker_id => %s::uuid)"
)
COMPLETE_TASK = (
    "select 1 from pgflow.complete_task(run_id => %s, step_slug => %s, task_index => %s, output => '1'::jsonb)"
)


def contract_worker(dsn: str, slug: str, batch: int, ready: Any, go: Any, stop: Any, out: Any) -> None:
    """An emulated contract-path worker: read, start_tasks, complete_task per task, until stop."""
    worker_id = str(uuid.uuid4())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into pgflow.workers (worker_id, queue_name, function_name) values (%s, %s, 'bench.contract')",
            (worker_id, slug),
        )
        conn.execute("select 1")
        ready.set()
        go.wait()
        done = 0
        while not stop.is_set():
            ids = [r[0] for r in conn.execute(READ, (slug, batch))]
            if not ids:
                time.sleep(0.002)  # an idle poll interval; the figures are timed on the server's clock
                continue
            for run_id, step_slug, task_index in conn.execute(START_TASKS, (slug, ids, worker_id)).fetchall():
                conn.execute(COMPLETE_TASK, (run_id, step_slug, task_index))
                done += 1
        out.put({"kind": "contract", "completed": done})


def _spawn(bench: Bench, slug: str, k: int) -> ProcessGroup:
    return spawn_group(
        k, contract_worker, lambda g, i: (bench.dsn, slug, 10, g.ready[i], g.go, g.stop, g.out)
    )


def contract_drain(bench: Bench, kind: str, runs: int, k: int, map_size: int = 0) -> dict[str, Any]:
    """Drain `runs` runs of `kind` (single, chain, map) with K emulated contract-path workers."""
    steps = {"single": 1, "chain": 5, "map": map_size + 1}[kind]
    with bench._flow(kind, f"c{kind}{k}") as slug:
        start_flow: dict[str, Any] = {}
        if kind == "map":
            bench.conn.execute(
                "select pgflow.start_flow(flow_slug => %s, input => "
                "(select jsonb_agg(i) from generate_series(0, %s - 1) as i))",
                (slug, map_size),
            )
            bench.conn.execute("analyze pgflow.step_tasks")
        else:
            cpu0 = server_cpu_s(bench.postmaster_pid)
            t0 = time.perf_counter()
            for _ in range(runs):
                bench.conn.execute("select 1 from pgflow.start_flow(flow_slug => %s, input => '{}'::jsonb)", (slug,))
            wall = time.perf_counter() - t0
            cpu1 = server_cpu_s(bench.postmaster_pid)
            start_flow = {
                "start_flow_runs_per_s": runs / wall,
                "start_flow_server_cpu_ms": None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) * 1000 / runs,
            }
            bench.conn.execute("analyze pgflow.runs, pgflow.step_states, pgflow.step_tasks")
        group = _spawn(bench, slug, k)
        try:
            group.wait_ready()
            cpu0 = server_cpu_s(bench.postmaster_pid)
            group.release()
            bench._wait_runs_done(slug, runs, group)
            cpu1 = server_cpu_s(bench.postmaster_pid)
            group.stop.set()
            results = group.results()
        finally:
            group.kill()
        seconds = bench._server_seconds(slug)
    completed = sum(r["completed"] for r in results)
    if completed != runs * steps:
        raise RuntimeError(f"{slug}: contract workers completed {completed} tasks, expected {runs * steps}")
    return {
        "seconds": seconds,
        "tasks_per_s": runs * steps / seconds,
        "runs_per_s": runs / seconds,
        "server_cpu_ms_per_task": None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) * 1000 / (runs * steps),
        **start_flow,
    }
