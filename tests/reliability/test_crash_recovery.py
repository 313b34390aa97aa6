"""A worker process killed with SIGKILL in the middle of a task loses nothing.

The killed worker is the real deployment unit, `pgflow worker tests.support.reliability_flows:fan`.
Its handler for one chosen task writes a marker file and then blocks (the gate never opens), so
the kill lands at a known point: the task is `started`, its handler is running, nobody will
ever report it.

Recovery is pgflow's own: `requeue_stalled_tasks()` requeues tasks started longer than flow
timeout + 30 s ago, and the surviving worker runs it in its maintenance sweep (every 0.2 s
here). A test cannot wait 33 s per fault, so it injects time instead: it moves the stalled
task's `queued_at`/`started_at` back one hour (nothing else is touched). The message visibility
timeout alone does not recover a task: the message re-appears, but start_tasks ignores a task
that is not `queued`.

Checked after every round: the run completed; every task completed exactly once in step_tasks
(one row per index, status completed, remaining counters 0); map outputs complete and in order;
no message of the run left in pgmq.q_rel_fan; the killed task was requeued exactly once and ran
a second time; the handler side-effect table shows every other task ran exactly once (the
killed execution blocked before its side effect).
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.support import reliability_flows as flows
from tests.support.faults import check_effects, count, entered, log_problems
from tests.support.processes import WorkerProcess, spawn_cli_worker, spawn_worker
from tests.support.sql import (
    age_started_tasks,
    assert_run_completed_cleanly,
    compile_flow,
    run_row,
    start_flow,
    step_states,
)
from tests.support.waiting import wait_until
from tests.support.worker import FAULT_RECOVERY

K = 5
# (gate, step, task_index): a root map task, a dependent map task, the final join step
ROUNDS = [("items:2", "items", 2), ("echo:1", "echo", 1), ("total", "total", 0)]


def test_sigkill_mid_task_is_recovered_and_completed_exactly_once(
    effects: psycopg.Connection, db_dsn: str, tmp_path: Path, procs: list[WorkerProcess]
) -> None:
    conn = effects
    compile_flow(conn, flows.fan)
    for n, (gate, step, idx) in enumerate(ROUNDS):
        tag = f"kill{n}"
        rid = start_flow(conn, "rel_fan", flows.fan_input(tag, K))["run_id"]
        doomed = spawn_cli_worker(db_dsn, "tests.support.reliability_flows:fan", tmp_path, name=f"{tag}-doomed",
                                  extra_env={"REL_GATE": gate},
                                  args=["--concurrency", "4", "--max-poll-seconds", "0.5"])
        procs.append(doomed)
        wait_until(f"the handler of {step}[{idx}] to block in the doomed worker",
                   lambda tag=tag, step=step, idx=idx: entered(tmp_path, f"{tag}.{step}.{idx}.*"), timeout=60)
        doomed.kill()
        count("SIGKILL mid-task", workers_killed=1)

        stuck = conn.execute("select step_slug, task_index from pgflow.step_tasks where run_id = %s "
                             "and status = 'started'", (rid,)).fetchall()
        assert (step, idx) in stuck, stuck
        assert run_row(conn, rid)["status"] == "started"
        aged = age_started_tasks(conn, "st.run_id = %s", (rid,))
        survivor = spawn_worker(db_dsn, "tests.support.reliability_flows:fan", tmp_path, name=f"{tag}-survivor",
                                **FAULT_RECOVERY)
        procs.append(survivor)
        wait_until("the survivor to finish the run",
                   lambda rid=rid: run_row(conn, rid)["status"] != "started", timeout=60)
        survivor.stop()

        assert_run_completed_cleanly(conn, rid, flows.fan_tasks(K))
        outputs = {s: v["output"] for s, v in step_states(conn, rid).items()}
        assert outputs == flows.fan_expected(tag, K)
        assert run_row(conn, rid)["output"] == {"total": flows.fan_expected(tag, K)["total"]}
        attempts, requeued = conn.execute(
            "select attempts_count, requeued_count from pgflow.step_tasks where run_id = %s and step_slug = %s "
            "and task_index = %s", (rid, step, idx)).fetchone()  # type: ignore[misc]
        assert (attempts, requeued) == (2, 1)
        executions, duplicates = check_effects(conn, tag, rid)
        # at-least-once: only the other tasks the doomed worker held may have run twice
        assert duplicates <= aged - 1, (duplicates, aged)
        problems = log_problems([doomed, survivor])
        assert problems["deadlock"] == [], problems
        count("SIGKILL mid-task", tasks_stranded=aged, tasks_run=sum(flows.fan_tasks(K).values()),
              handler_executions=executions, duplicate_executions=duplicates, tasks_completed_twice=0,
              messages_orphaned=0, runs_completed=1)
