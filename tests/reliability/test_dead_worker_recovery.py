"""Dead-worker recovery by heartbeat (issue 21), with real worker processes and their own sweep.

* Four worker processes share a map run; the one whose handler holds a chosen task is SIGKILLed
  mid-task. The surviving workers' maintenance sweep (`pgflow.requeue_dead_worker_tasks`, every
  0.2 s, `dead_worker_timeout` 2 heartbeat intervals) notices its heartbeat stopped and requeues
  its tasks; another process runs the task again and the run completes, each task once in the
  database. No clock is aged: the flow's timeout is 60 s, so requeue_stalled_tasks (timeout +
  30 s) cannot be what recovered it.
* A worker whose handler keeps a CPU busy for three times the threshold, in a sync handler (the
  thread pool) or in an async one (blocking the event loop), keeps heartbeating from its
  heartbeat thread and is not declared dead by another worker sweeping beside it.
* A task whose worker dies four times is stalled past the requeue limit: the sweep
  (`requeue_dead_worker_tasks`, then `fail_stalled_tasks`) fails it with the stalled error, so
  its run ends failed instead of staying `started`; `pgflow.resume_run` then finishes the run.

The figures (kill to running again, heartbeat gaps) go to the session's reliability summary; the
tests assert what happened in the database and the workers' logs, not durations.
"""

from __future__ import annotations

import itertools
import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support import recovery_flows
from tests.support.faults import check_effects, count, log_problems
from tests.support.processes import WorkerProcess, spawn_worker
from tests.support.sql import assert_run_completed_cleanly, compile_flow, one, run_row, start_flow, step_states
from tests.support.waiting import wait_until
from tests.support.worker import FAST

HEARTBEAT = 1.0  # s, the workers' heartbeat_interval
THRESHOLD = 2 * HEARTBEAT  # s, their dead_worker_timeout
K = 8
DEAD_LINE = re.compile(r"WARNING pgflow\.worker\.services: worker ([0-9a-f-]{36}) is dead .*: requeued (\d+) of its")


def _options(heartbeat: float = HEARTBEAT, threshold: float = THRESHOLD) -> dict[str, Any]:
    # the sweep every 0.2 s (maintenance_interval, shorter than the heartbeat: it sets the pace)
    return {**FAST, "heartbeat_interval": heartbeat, "dead_worker_timeout": threshold, "visibility_timeout": 5,
            "maintenance_interval": 0.2}


def _live_workers(conn: psycopg.Connection) -> int:
    return int(one(conn, "select count(*) from pgflow.workers where stopped_at is null"))


def _declared_dead(procs: list[WorkerProcess]) -> dict[uuid.UUID, int]:
    """Worker id -> tasks requeued, from the WARNING lines of the workers' sweeps."""
    found: dict[uuid.UUID, int] = {}
    for p in procs:
        for m in DEAD_LINE.finditer(p.log_text()):
            found[uuid.UUID(m[1])] = found.get(uuid.UUID(m[1]), 0) + int(m[2])
    return found


class HeartbeatSampler:
    """on_idle hook for wait_until: samples each worker's last_heartbeat_at, to find the longest
    gap between two heartbeats it saw."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.beats: dict[uuid.UUID, list[Any]] = {}

    def __call__(self) -> None:
        for wid, beat in self.conn.execute("select worker_id, last_heartbeat_at from pgflow.workers"):
            seen = self.beats.setdefault(wid, [])
            if not seen or seen[-1] != beat:
                seen.append(beat)

    def longest_gap(self, worker_id: uuid.UUID) -> float:
        seen = self.beats.get(worker_id, [])
        return max(((b - a).total_seconds() for a, b in itertools.pairwise(seen)), default=0.0)


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
    dead_id = one(conn, "select last_worker_id from pgflow.step_tasks "
                        "where run_id = %s and step_slug = 'work' and task_index = 3", rid)

    doomed.kill()
    killed_at = one(conn, "select clock_timestamp()")
    count("SIGKILL, heartbeat recovery", workers_killed=1)

    def rerun_at() -> Any:
        return one(conn, "select min(at) from public.rel_effects "
                         "where tag = %s and step = 'work' and idx = 3 and pid <> %s", tag, pid)

    again = wait_until("work[3] running again in another process", rerun_at, timeout=60)
    wait_until("the run to finish", lambda: run_row(conn, rid)["status"] != "started", timeout=60)

    # the database: completed, each task once, map output complete and in order
    assert_run_completed_cleanly(conn, rid, {"work": K})
    assert step_states(conn, rid)["work"]["output"] == recovery_flows.held_output(K)
    attempts, requeued, last_requeued_at = conn.execute(
        "select attempts_count, requeued_count, last_requeued_at from pgflow.step_tasks "
        "where run_id = %s and step_slug = 'work' and task_index = 3", (rid,)).fetchone()  # type: ignore[misc]
    assert (attempts, requeued) == (2, 1)
    # requeued by a surviving worker's heartbeat sweep: only the dead worker, none of a live one
    survivors = [w for w in workers if w is not doomed]
    dead = _declared_dead(survivors)
    assert set(dead) == {dead_id}, dead
    executions, duplicates = check_effects(conn, tag, rid)
    # at-least-once: only tasks the dead worker held may have run twice (none but work[3] was
    # blocked, so usually the others had been reported before the kill)
    assert duplicates <= dead[dead_id], (duplicates, dead)
    assert log_problems(workers)["deadlock"] == []

    last_beat = one(conn, "select last_heartbeat_at from pgflow.workers where worker_id = %s", dead_id)
    count(
        "SIGKILL, heartbeat recovery",
        tasks_requeued_by_heartbeat=dead[dead_id], handler_executions=executions,
        duplicate_executions=duplicates, tasks_completed_twice=0, runs_completed=1,
        heartbeat_interval_ms=int(HEARTBEAT * 1000), threshold_ms=int(THRESHOLD * 1000),
        kill_to_running_again_ms=int((again - killed_at).total_seconds() * 1000),
        last_heartbeat_to_running_again_ms=int((again - last_beat).total_seconds() * 1000),
        kill_to_requeue_ms=int((last_requeued_at - killed_at).total_seconds() * 1000),
    )


@pytest.mark.parametrize("flow", ["burn", "block"], ids=["sync-handler-in-thread", "async-handler-blocking-loop"])
def test_cpu_bound_handler_does_not_make_its_worker_dead(
    flow: str, effects: psycopg.Connection, db_dsn: str, tmp_path: Path, procs: list[WorkerProcess]
) -> None:
    conn = effects
    target = getattr(recovery_flows, flow)
    compile_flow(conn, target)
    compile_flow(conn, recovery_flows.stall)  # served by the watcher, which has nothing to do but sweep
    heartbeat = 0.5
    threshold = 3 * heartbeat
    spin_seconds = 3 * threshold
    burner = spawn_worker(db_dsn, f"tests.support.recovery_flows:{flow}", tmp_path, name="burner",
                          **_options(heartbeat, threshold))
    procs.append(burner)
    wait_until("the burner registered", lambda: _live_workers(conn) == 1, timeout=60)
    burner_id = one(conn, "select worker_id from pgflow.workers")
    watcher = spawn_worker(db_dsn, "tests.support.recovery_flows:stall", tmp_path, name="watcher",
                           **_options(heartbeat, threshold))
    procs.append(watcher)
    wait_until("the watcher registered", lambda: _live_workers(conn) == 2, timeout=60)

    tag = f"{flow}1"
    rid = start_flow(conn, target.slug, {"tag": tag, "seconds": spin_seconds})["run_id"]
    sampler = HeartbeatSampler(conn)
    wait_until("the CPU-bound handler to finish (or its worker to be declared dead)",
               lambda: run_row(conn, rid)["status"] != "started" or _declared_dead([burner, watcher]),
               timeout=120, on_idle=sampler)

    assert _declared_dead([burner, watcher]) == {}, "a live worker with a busy CPU was declared dead"
    assert run_row(conn, rid)["status"] == "completed"
    attempts, requeued = conn.execute(
        "select attempts_count, requeued_count from pgflow.step_tasks where run_id = %s", (rid,)).fetchone()  # type: ignore[misc]
    assert (attempts, requeued) == (1, 0)
    executions, duplicates = check_effects(conn, tag, rid)
    assert (executions, duplicates) == (1, 0)
    gap = sampler.longest_gap(burner_id)
    assert gap > 0, sampler.beats  # the heartbeats were sampled while the handler ran
    area = "CPU-bound sync handler" if flow == "burn" else "CPU-bound async handler blocking the loop"
    count(area, handlers_spun=1, seconds_spun=int(spin_seconds), workers_declared_dead=0,
          longest_heartbeat_gap_ms=int(gap * 1000), heartbeat_interval_ms=int(heartbeat * 1000),
          threshold_ms=int(threshold * 1000))


def test_task_stalled_past_the_limit_fails_its_run_and_resume_run_finishes_it(
    effects: psycopg.Connection, db_dsn: str, tmp_path: Path, procs: list[WorkerProcess]
) -> None:
    conn = effects
    compile_flow(conn, recovery_flows.stall)
    compile_flow(conn, recovery_flows.burn)  # served by the watcher: it only sweeps
    heartbeat, threshold = 0.5, 1.0
    watcher = spawn_worker(db_dsn, "tests.support.recovery_flows:burn", tmp_path, name="watcher",
                           **_options(heartbeat, threshold))
    procs.append(watcher)
    wait_until("the watcher registered", lambda: _live_workers(conn) == 1, timeout=60)

    tag = "stall1"
    rid = start_flow(conn, "rel_stall", {"tag": tag})["run_id"]

    def task() -> dict[str, Any]:
        row = conn.execute("select status, requeued_count, attempts_count, last_worker_id, error_message "
                           "from pgflow.step_tasks where run_id = %s", (rid,)).fetchone()
        assert row is not None
        return dict(zip(("status", "requeued_count", "attempts_count", "last_worker_id", "error_message"), row,
                        strict=True))

    for death in range(1, 5):  # the task's worker dies 4 times: 3 requeues, then the limit
        doomed = spawn_worker(db_dsn, "tests.support.recovery_flows:stall", tmp_path, name=f"doomed{death}",
                              extra_env={"REL_STUCK": "1"}, **_options(heartbeat, threshold))
        procs.append(doomed)
        wait_until(f"execution {death} to begin",
                   lambda n=death: one(conn, "select count(*) from public.rel_effects where tag = %s", tag) == n,
                   timeout=60)
        doomed.kill()
        wait_until(f"the sweep to handle death {death}", lambda: task()["status"] != "started", timeout=60)

    t = task()
    assert (t["status"], t["requeued_count"], t["attempts_count"]) == ("failed", 3, 4), t
    assert t["error_message"].startswith("Task stalled 4 times (requeued 3 times, the limit)"), t
    run = run_row(conn, rid)
    assert run["status"] == "failed", run
    assert step_states(conn, rid)["stuck"]["status"] == "failed"
    assert "stalled 4 times: failed (step failed, run failed)" in watcher.log_text()
    assert len(_declared_dead([watcher])) == 4

    # resume_run (run control) starts the step again; a healthy worker finishes the run
    assert one(conn, "select status from pgflow.resume_run(run_id => %s)", rid) == "started"
    healthy = spawn_worker(db_dsn, "tests.support.recovery_flows:stall", tmp_path, name="healthy",
                           **_options(heartbeat, threshold))
    procs.append(healthy)
    wait_until("the resumed run to finish", lambda: run_row(conn, rid)["status"] != "started", timeout=60)
    assert run_row(conn, rid)["status"] == "completed"
    assert step_states(conn, rid)["stuck"]["output"] == {"done": tag}
    count("task stalled past the limit", worker_deaths=4, runs_failed_by_sweep=1, runs_resumed_and_completed=1)
