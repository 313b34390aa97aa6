"""Workers survive their database connections being killed and the server restarting.

Handlers of the root map `items` are gated: they write a marker and wait for the test to open
the gate, so the fault lands while every worker is busy (handlers running, results not yet
reported). After the fault the gate opens and the workers must reconnect on their own and
finish every run.

Delivery contract checked here: state shows exactly one completion per task (one step_tasks
row per index, status completed, counters 0, outputs complete and ordered, no message left in
the queue). Handler execution is at-least-once after a crash: a handler whose result could not
be reported may run again, so the side-effect table may show a task twice, but never more often
than start_tasks handed it out (attempts_count). The counts of such re-executions are reported.

Lost reports (complete_task on a dead connection that the worker could not retry) leave a task
`started`; the test treats a task started for more than 8 s of real time (handlers take
milliseconds once the gate is open) as stalled and ages its clock, so the workers' maintenance
sweep requeues it, exactly as requeue_stalled_tasks would after flow timeout + 30 s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support import reliability_flows as flows
from tests.support.faults import StallAger, check_effects, count, entered, log_problems, open_gate
from tests.support.processes import WorkerProcess, spawn_worker
from tests.support.sql import assert_run_completed_cleanly, compile_flow, start_flow, step_states
from tests.support.waiting import wait_until
from tests.support.worker import FAULT_RECOVERY

FLOW = "tests.support.reliability_flows:fan"


def _finish(dsn: str, runs: dict[str, Any], k: int, procs: list[WorkerProcess], area: str, timeout: float = 90) -> None:
    ager = StallAger(dsn, after=8, run_ids=list(runs.values()))

    def all_done() -> bool:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as c:
                rows = c.execute("select status from pgflow.runs where run_id = any(%s)", (list(runs.values()),))
                return all(r[0] != "started" for r in rows)
        except psycopg.OperationalError:
            return False

    wait_until("every run to finish after the fault", all_done, timeout=timeout, interval=0.1, on_idle=ager)
    with psycopg.connect(dsn, autocommit=True) as conn:
        executions = duplicates = 0
        for tag, rid in runs.items():
            assert_run_completed_cleanly(conn, rid, flows.fan_tasks(k))
            assert {s: v["output"] for s, v in step_states(conn, rid).items()} == flows.fan_expected(tag, k)
            e, d = check_effects(conn, tag, rid)
            executions, duplicates = executions + e, duplicates + d
        requeued = conn.execute("select coalesce(sum(requeued_count), 0) from pgflow.step_tasks").fetchone()
    problems = log_problems(procs)
    assert problems["deadlock"] == [], problems["deadlock"]
    count(area, runs_completed=len(runs), tasks_run=len(runs) * sum(flows.fan_tasks(k).values()),
          handler_executions=executions, duplicate_executions=duplicates, tasks_requeued=int(requeued[0]),  # type: ignore[index]
          tasks_aged_by_test=ager.aged, tasks_completed_twice=0, messages_orphaned=0)


def _completed_tasks(conn: psycopg.Connection, run_ids: list[Any]) -> int:
    row = conn.execute("select count(*) from pgflow.step_tasks where run_id = any(%s) and status = 'completed'",
                       (run_ids,)).fetchone()
    return int(row[0])  # type: ignore[index]


def test_pg_terminate_backend_of_every_worker_connection_while_busy(
    effects: psycopg.Connection, db_dsn: str, tmp_path: Path, procs: list[WorkerProcess]
) -> None:
    conn = effects
    compile_flow(conn, flows.fan)
    k = 12
    runs = {f"term{i}": start_flow(conn, "rel_fan", flows.fan_input(f"term{i}", k))["run_id"] for i in range(2)}
    w = spawn_worker(db_dsn, FLOW, tmp_path, name="busy", extra_env={"REL_GATE": "items"},
                     **{**FAULT_RECOVERY, "concurrency": 8, "batch_size": 8})
    procs.append(w)
    wait_until("8 gated handlers running", lambda: len(entered(tmp_path, "term*.items.*")) >= 8, timeout=60)
    killed = 0
    for _ in range(3):  # kill everything, let the worker reconnect, kill again
        killed += len(conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'"
        ).fetchall())
        wait_until("the worker to reconnect", lambda: conn.execute(
            "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
        ).fetchone()[0] > 0, timeout=30)  # type: ignore[index]
    # and again while the released handlers report their results (complete_task in flight)
    open_gate(tmp_path)
    rounds = 3
    for _ in range(5):
        done = _completed_tasks(conn, list(runs.values()))
        if done >= len(runs) * sum(flows.fan_tasks(k).values()) - 4:
            break
        wait_until("more completions", lambda done=done: _completed_tasks(conn, list(runs.values())) >= done + 4,
                   timeout=60)
        killed += len(conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'"
        ).fetchall())
        rounds += 1
    count("pg_terminate_backend while busy", connections_terminated=killed, rounds=rounds)
    _finish(db_dsn, runs, k, procs, "pg_terminate_backend while busy")


@pytest.fixture
def restartable(pg_server: Any, db_dsn: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """(dsn, restart): the session server when it is ours to restart, else a private one."""
    if pg_server.embedded is not None:
        yield db_dsn, pg_server.embedded.restart
        return
    from pgflow import migrator
    from pgflow.embedded import EmbeddedPostgres
    from pgflow.pgmq_install import ensure_pgmq

    pg = EmbeddedPostgres().start()
    try:
        with psycopg.connect(pg.dsn, autocommit=True) as c:
            ensure_pgmq(c, prefer_extension=False)
        migrator.migrate(pg.dsn, install_pgmq=False)
        yield pg.dsn, pg.restart
    finally:
        pg.stop()


def test_server_restart_while_eight_worker_processes_are_busy(
    restartable: tuple[str, Callable[[], None]], tmp_path: Path, procs: list[WorkerProcess]
) -> None:
    dsn, restart = restartable
    k = 10
    with psycopg.connect(dsn, autocommit=True) as conn:
        flows.create_effects_table(conn)
        compile_flow(conn, flows.fan)
        runs = {f"restart{i}": start_flow(conn, "rel_fan", flows.fan_input(f"restart{i}", k))["run_id"]
                for i in range(4)}
    for i in range(8):
        procs.append(spawn_worker(dsn, FLOW, tmp_path, name=f"r{i}", extra_env={"REL_GATE": "items"}, **FAULT_RECOVERY))
    # 40 gated items tasks, 8 x 4 slots: every process ends up with all its slots blocked
    pids = {p.pid for p in procs}
    wait_until("all 8 worker processes busy in gated handlers",
               lambda: {int(m.name.rsplit(".", 1)[1]) for m in entered(tmp_path, "restart*.items.*")} >= pids,
               timeout=90)
    restart()
    open_gate(tmp_path)
    # a second restart while the released handlers report their results
    total = 4 * sum(flows.fan_tasks(k).values())

    def completed() -> int:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as c:
                return _completed_tasks(c, list(runs.values()))
        except psycopg.OperationalError:
            return 0

    wait_until("some completions after the first restart", lambda: completed() >= 20, timeout=60, interval=0.02)
    mid = completed()
    restarts = 1
    if mid < total:
        restart()
        restarts += 1
    count("server restart while 8 workers busy", restarts=restarts, worker_processes=8)
    _finish(dsn, runs, k, procs, "server restart while 8 workers busy", timeout=120)
    assert all(p.proc.poll() is None for p in procs), "a worker process exited after the restart"
