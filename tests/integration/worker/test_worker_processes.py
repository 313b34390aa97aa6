"""Workers as separate processes (tests/support/worker_main.py): SIGTERM drains the task in
flight and takes no new one; two processes share 1,000 runs with every task done once."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from tests.support.processes import WorkerProcess, spawn_worker
from tests.support.sql import one
from tests.support.waiting import wait_until

FLOWS = "tests.support.process_flows"


def test_sigterm_drains_the_task_in_flight_and_takes_no_new_one(
    db_dsn: str, conn: psycopg.Connection[Any], procs: list[WorkerProcess], tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    w = spawn_worker(db_dsn, f"{FLOWS}:drain_flow", tmp_path, name="drain", worker_id=uuid.uuid4(),
                     extra_env={"PGFLOW_TEST_GATE": str(gate)}, heartbeat_interval=0.5)
    procs.append(w)
    w.expect("READY")
    run1 = one(conn, "select run_id from pgflow.start_flow('proc_drain', '{\"n\": 1}')")
    wait_until(
        "the task to start",
        lambda: one(conn, "select status = 'started' from pgflow.step_tasks where run_id = %s", run1),
        timeout=60,
    )

    w.proc.send_signal(signal.SIGTERM)
    w.expect("STOPPING")
    run2 = one(conn, "select run_id from pgflow.start_flow('proc_drain', '{\"n\": 2}')")
    assert w.proc.poll() is None, "the worker must wait for its task in flight"
    assert one(conn, "select stopped_at from pgflow.workers where worker_id = %s", w.worker_id) is None

    gate.touch()
    assert w.proc.wait(60) == 0, w.log_tail()
    assert one(conn, "select status from pgflow.runs where run_id = %s", run1) == "completed"
    assert one(conn, "select output from pgflow.runs where run_id = %s", run1) == {
        "slow": {"done": True, "input": {"n": 1}}
    }
    # The run started after SIGTERM was left alone: still queued, never attempted.
    assert one(conn, "select status || ':' || attempts_count from pgflow.step_tasks where run_id = %s", run2) == (
        "queued:0"
    )
    assert one(conn, "select stopped_at is not null from pgflow.workers where worker_id = %s", w.worker_id)


def test_two_worker_processes_complete_1000_runs_exactly_once(
    db_dsn: str, conn: psycopg.Connection[Any], procs: list[WorkerProcess], tmp_path: Path
) -> None:
    workers = [spawn_worker(db_dsn, f"{FLOWS}:bulk_flow", tmp_path, name=f"bulk{i}") for i in range(2)]
    procs.extend(workers)
    for w in workers:
        w.expect("READY")

    runs = 1000
    t0 = time.monotonic()
    conn.execute(
        "select count(*) from generate_series(1, %s) as g, "
        "lateral pgflow.start_flow('proc_bulk', jsonb_build_object('i', g)) as r",
        (runs,),
    )
    wait_until(
        "all runs to complete",
        lambda: one(conn, "select count(*) from pgflow.runs where status = 'completed'") == runs,
        timeout=180,
    )
    elapsed = time.monotonic() - t0
    for w in workers:
        assert w.stop(timeout=60) == 0, w.log_tail()

    stats = conn.execute(
        """
        select count(*), count(*) filter (where status = 'completed' and attempts_count = 1),
               count(distinct last_worker_id), max(attempts_count)
        from pgflow.step_tasks
        """
    ).fetchone()
    assert stats == (2 * runs, 2 * runs, 2, 1)
    wrong = one(
        conn, "select count(*) from pgflow.runs where output <> jsonb_build_object('b', (input->>'i')::int * 2)"
    )
    assert wrong == 0
    assert one(conn, "select count(*) from pgmq.q_proc_bulk") == 0
    assert one(conn, "select count(*) from pgmq.a_proc_bulk") == 2 * runs
    per_worker = conn.execute("select count(*) from pgflow.step_tasks group by last_worker_id order by 1").fetchall()
    print(
        f"\n2 worker processes: {runs} runs / {2 * runs} tasks in {elapsed:.2f} s "
        f"({2 * runs / elapsed:.0f} tasks/s); tasks per worker {[r[0] for r in per_worker]}"
    )
