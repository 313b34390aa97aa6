"""Dead-worker recovery by heartbeat (issue 21), with real worker processes.

* Four worker processes share a map run; the one whose handler holds a chosen task is SIGKILLed
  mid-task. `pgflow.requeue_dead_worker_tasks` notices its heartbeat stopped and requeues its
  tasks; another process runs the task again and the run completes, each task once in the
  database. No clock is aged: the flow's timeout is 60 s, so requeue_stalled_tasks (timeout + 30 s)
  cannot be what recovered it.
* A worker whose sync handler keeps a CPU busy for longer than the threshold keeps heartbeating
  and is not declared dead.

The sweep is called by the test (`Sweeper`, every 0.1 s, as the pg_cron job of
`pgflow.setup_recovery_cron(heartbeat_timeout => ...)` would call it) until the worker's own
maintenance loop calls it. The figures (kill to running again, heartbeat gaps) go to the
session's reliability summary; the tests assert what happened in the database, not durations.
"""

from __future__ import annotations

import itertools
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from tests.support import recovery_flows
from tests.support.faults import check_effects, count, log_problems
from tests.support.processes import WorkerProcess, spawn_worker
from tests.support.sql import assert_run_completed_cleanly, compile_flow, run_row, start_flow, step_states
from tests.support.waiting import wait_until
from tests.support.worker import FAST

HEARTBEAT = 1.0  # s, the workers' heartbeat_interval
THRESHOLD = 2 * HEARTBEAT  # s, requeue_dead_worker_tasks' heartbeat_timeout
K = 8


class Sweeper:
    """on_idle hook for wait_until: runs pgflow.requeue_dead_worker_tasks at most every
    `every` seconds and keeps every row it returned; also samples each worker's
    last_heartbeat_at to find the longest gap between two heartbeats it saw."""

    def __init__(self, dsn: str, threshold: float, every: float = 0.1) -> None:
        self.dsn, self.threshold, self.every = dsn, threshold, every
        self.requeued: list[dict[str, Any]] = []
        self.beats: dict[uuid.UUID, list[Any]] = {}
        self._next = 0.0

    def __call__(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every
        with psycopg.connect(self.dsn, autocommit=True) as c:
            cur = c.execute(
                "select * from pgflow.requeue_dead_worker_tasks("
                "heartbeat_timeout => make_interval(secs => %s), function_name => 'pgflow-py')",
                (self.threshold,),
            )
            names = [d.name for d in cur.description or ()]
            self.requeued += [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            for wid, beat in c.execute("select worker_id, last_heartbeat_at from pgflow.workers"):
                seen = self.beats.setdefault(wid, [])
                if not seen or seen[-1] != beat:
                    seen.append(beat)

    def longest_gap(self, worker_id: uuid.UUID) -> float:
        seen = self.beats.get(worker_id, [])
        return max(((b - a).total_seconds() for a, b in itertools.pairwise(seen)), default=0.0)


def _options() -> dict[str, Any]:
    return {**FAST, "heartbeat_interval": HEARTBEAT, "visibility_timeout": 5}


def _live_workers(conn: psycopg.Connection) -> int:
    row = conn.execute("select count(*) from pgflow.workers where stopped_at is null").fetchone()
    return int(row[0]) if row else 0


def test_sigkilled_worker_task_runs_again_on_another_worker(
    effects: psycopg.Connection, db_dsn: str, tmp_path: Path, procs: list[WorkerProcess]
) -> None:
    conn = effects
    compile_flow(conn, recovery_flows.held)
    workers = [
        spawn_worker(db_dsn, "tests.support.recovery_flows:held", tmp_path, name=f"w{i}",
                     extra_env={"REL_HOLD": "work:3"}, **_options())
        for i in range(4)
    ]
    procs.extend(workers)
    wait_until("four workers registered", lambda: _live_workers(conn) == 4, timeout=60)

    tag = "dead1"
    rid = start_flow(conn, "rel_held", recovery_flows.held_input(tag, K))["run_id"]
    pid = wait_until("a worker to hold work[3]", lambda: recovery_flows.held_by(tmp_path, tag, "work", 3), timeout=60)
    doomed = next(w for w in workers if w.pid == pid)
    dead_id = conn.execute(
        "select last_worker_id from pgflow.step_tasks where run_id = %s and step_slug = 'work' and task_index = 3",
        (rid,),
    ).fetchone()[0]  # type: ignore[index]

    doomed.kill()
    killed_at = conn.execute("select clock_timestamp()").fetchone()[0]  # type: ignore[index]
    count("SIGKILL, heartbeat recovery", workers_killed=1)

    sweeper = Sweeper(db_dsn, THRESHOLD)

    def rerun_at() -> Any:
        row = conn.execute(
            "select min(at) from public.rel_effects where tag = %s and step = 'work' and idx = 3 and pid <> %s",
            (tag, pid),
        ).fetchone()
        return row[0] if row else None

    again = wait_until("work[3] running again in another process", rerun_at, timeout=60, on_idle=sweeper)
    wait_until("the run to finish", lambda: run_row(conn, rid)["status"] != "started", timeout=60, on_idle=sweeper)

    # the database: completed, each task once, map output complete and in order
    assert_run_completed_cleanly(conn, rid, {"work": K})
    assert step_states(conn, rid)["work"]["output"] == recovery_flows.held_output(K)
    attempts, requeued, last_requeued_at = conn.execute(
        "select attempts_count, requeued_count, last_requeued_at from pgflow.step_tasks "
        "where run_id = %s and step_slug = 'work' and task_index = 3", (rid,)).fetchone()  # type: ignore[misc]
    assert (attempts, requeued) == (2, 1)
    # requeued by the heartbeat sweep, only the dead worker's tasks, none of a live worker's
    assert {r["worker_id"] for r in sweeper.requeued} == {dead_id}, sweeper.requeued
    assert (rid, "work", 3) in {(r["run_id"], r["step_slug"], r["task_index"]) for r in sweeper.requeued}
    assert {r["outcome"] for r in sweeper.requeued} == {"requeued"}
    executions, duplicates = check_effects(conn, tag, rid)
    # at-least-once: only tasks the dead worker held may have run twice (none but work[3] was
    # blocked, so usually the others had been reported before the kill)
    assert duplicates <= len(sweeper.requeued), (duplicates, sweeper.requeued)
    assert log_problems(workers)["deadlock"] == []

    last_beat = conn.execute("select last_heartbeat_at from pgflow.workers where worker_id = %s",
                             (dead_id,)).fetchone()[0]  # type: ignore[index]
    count(
        "SIGKILL, heartbeat recovery",
        tasks_requeued_by_heartbeat=len(sweeper.requeued), handler_executions=executions,
        duplicate_executions=duplicates, tasks_completed_twice=0, runs_completed=1,
        heartbeat_interval_ms=int(HEARTBEAT * 1000), threshold_ms=int(THRESHOLD * 1000),
        kill_to_running_again_ms=int((again - killed_at).total_seconds() * 1000),
        last_heartbeat_to_running_again_ms=int((again - last_beat).total_seconds() * 1000),
        kill_to_requeue_ms=int((last_requeued_at - killed_at).total_seconds() * 1000),
    )


def test_cpu_bound_sync_handler_does_not_make_its_worker_dead(
    effects: psycopg.Connection, db_dsn: str, tmp_path: Path, procs: list[WorkerProcess]
) -> None:
    conn = effects
    compile_flow(conn, recovery_flows.burn)
    heartbeat = 0.5
    threshold = 3 * heartbeat
    spin_seconds = 3 * threshold
    worker = spawn_worker(db_dsn, "tests.support.recovery_flows:burn", tmp_path, name="burner",
                          **{**_options(), "heartbeat_interval": heartbeat})
    procs.append(worker)
    wait_until("the worker registered", lambda: _live_workers(conn) == 1, timeout=60)
    worker_id = conn.execute("select worker_id from pgflow.workers").fetchone()[0]  # type: ignore[index]

    tag = "burn1"
    rid = start_flow(conn, "rel_burn", {"tag": tag, "seconds": spin_seconds})["run_id"]
    sweeper = Sweeper(db_dsn, threshold)
    wait_until("the CPU-bound handler to finish", lambda: run_row(conn, rid)["status"] != "started",
               timeout=120, on_idle=sweeper)

    assert sweeper.requeued == [], "a live worker with a busy CPU was declared dead"
    assert run_row(conn, rid)["status"] == "completed"
    attempts, requeued = conn.execute(
        "select attempts_count, requeued_count from pgflow.step_tasks where run_id = %s", (rid,)).fetchone()  # type: ignore[misc]
    assert (attempts, requeued) == (1, 0)
    executions, duplicates = check_effects(conn, tag, rid)
    assert (executions, duplicates) == (1, 0)
    count("CPU-bound sync handler", handlers_spun=1, seconds_spun=int(spin_seconds), workers_declared_dead=0,
          longest_heartbeat_gap_ms=int(sweeper.longest_gap(worker_id) * 1000),
          heartbeat_interval_ms=int(heartbeat * 1000))
