"""Eight concurrent workers on one flow, ~2,000 tasks with map fan-outs: nothing done twice,
nothing lost, no deadlock.

Four worker processes each run two Worker instances on one event loop (8 workers, 32 handler
slots) against 8 runs of `rel_fan` (root map, root single, two dependent maps and a join;
83 elements per run, 251 tasks per run, 2,008 tasks). No fault is injected, so the handler
side-effect table must show exactly one execution per task and every task exactly one attempt.
At the end every run must hold the invariants (run completed, remaining_steps 0; per step
remaining_tasks 0, initial_tasks = number of tasks, remaining_deps 0; one completed row per
task; map outputs complete and ordered; no message left). The workers' logs and the server log
must not mention a deadlock.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.support import reliability_flows as flows
from tests.support.faults import check_effects, count, log_problems
from tests.support.processes import WorkerProcess, spawn_worker
from tests.support.sql import assert_run_completed_cleanly, compile_flow, queue_size, run_row, start_flow, step_states
from tests.support.waiting import wait_until
from tests.support.worker import FAULT_RECOVERY

RUNS, K = 8, 83


def _deadlocks_in(server_log: Path | None) -> int:
    if server_log is None or not server_log.exists():
        return 0
    return server_log.read_text(errors="replace").count("deadlock detected")


def test_eight_workers_two_thousand_tasks_nothing_twice(
    effects: psycopg.Connection, db_dsn: str, tmp_path: Path, procs: list[WorkerProcess], server_log: Path | None
) -> None:
    conn = effects
    compile_flow(conn, flows.fan)
    deadlocks_before = _deadlocks_in(server_log)
    for i in range(4):
        procs.append(spawn_worker(db_dsn, "tests.support.reliability_flows:fan", tmp_path, name=f"c{i}", workers=2,
                                  **{**FAULT_RECOVERY, "maintenance_interval": 1}))
    runs = {f"conc{i}": start_flow(conn, "rel_fan", flows.fan_input(f"conc{i}", K))["run_id"] for i in range(RUNS)}
    wait_until("all runs to finish", lambda: all(run_row(conn, r)["status"] != "started" for r in runs.values()),
               timeout=240, interval=0.25)

    per_run = sum(flows.fan_tasks(K).values())
    executions = 0
    for tag, rid in runs.items():
        assert_run_completed_cleanly(conn, rid, flows.fan_tasks(K))
        expected = flows.fan_expected(tag, K)
        assert {s: v["output"] for s, v in step_states(conn, rid).items()} == expected
        assert run_row(conn, rid)["output"] == {"total": expected["total"]}
        e, duplicates = check_effects(conn, tag, rid)
        assert duplicates == 0, f"{duplicates} handler executions of run {tag} were duplicates"
        executions += e
    multi = conn.execute("select count(*) from pgflow.step_tasks where attempts_count <> 1 or requeued_count <> 0")
    assert multi.fetchone() == (0,)
    assert queue_size(conn, "rel_fan") == 0
    workers = conn.execute("select count(distinct last_worker_id) from pgflow.step_tasks").fetchone()
    assert workers is not None and workers[0] >= 2, "the load was not shared"

    problems = log_problems(procs)
    assert problems == {"deadlock": [], "traceback": []}, problems
    server_deadlocks = _deadlocks_in(server_log) - deadlocks_before
    assert server_deadlocks == 0
    count("8 concurrent workers", workers=8, worker_processes=4, runs_completed=RUNS, tasks_run=RUNS * per_run,
          handler_executions=executions, duplicate_executions=0, tasks_completed_twice=0, deadlocks=server_deadlocks,
          workers_sharing_load=int(workers[0]), messages_orphaned=0)
