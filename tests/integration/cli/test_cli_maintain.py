"""`pgflow maintain`: the stalled-task sweep for plain PostgreSQL without pg_cron."""

from __future__ import annotations

import subprocess
from typing import Any

import psycopg

from tests.support.cli import run_cli
from tests.support.sql import insert_worker


def _maintain(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("maintain", *args)


def test_maintain_once_requeues_a_task_whose_worker_died(conn: psycopg.Connection[Any], db_dsn: str) -> None:
    conn.execute("select pgflow.create_flow('mt_flow', timeout => 5)")
    conn.execute("select pgflow.add_step('mt_flow', 'only')")
    run_id = conn.execute("select run_id from pgflow.start_flow('mt_flow', '{}')").fetchone()[0]  # type: ignore[index]
    worker = insert_worker(conn, "mt_flow")
    ids = [r[0] for r in conn.execute("select msg_id from pgmq.read('mt_flow', 30, 10)").fetchall()]
    assert len(conn.execute("select * from pgflow.start_tasks('mt_flow', %s, %s)", (ids, worker)).fetchall()) == 1
    # the worker "died" 40 s ago: older than timeout 5 s + 30 s
    conn.execute("update pgflow.step_tasks set queued_at = now() - interval '41 seconds', "
                 "started_at = now() - interval '40 seconds' where run_id = %s", (run_id,))

    proc = _maintain("--once", "--dsn", db_dsn)
    assert proc.returncode == 0, proc.stderr
    assert "requeued 1 stalled task(s)" in proc.stderr
    row = conn.execute("select status, requeued_count, last_worker_id from pgflow.step_tasks where run_id = %s",
                       (run_id,)).fetchone()
    assert row == ("queued", 1, None)
    assert conn.execute("select count(*) from pgmq.q_mt_flow where vt <= clock_timestamp()").fetchone() == (1,)

    again = _maintain("--once", "--dsn", db_dsn)
    assert again.returncode == 0 and "requeued 0 stalled task(s)" in again.stderr


def test_maintain_on_unmigrated_database_says_what_to_run(empty_db_dsn: str) -> None:
    proc = _maintain("--once", "--dsn", empty_db_dsn)
    assert proc.returncode == 1
    assert "pgflow migrate" in proc.stderr


def _started_task(conn: psycopg.Connection[Any], flow: str, function_name: str) -> tuple[Any, Any]:
    conn.execute("select pgflow.create_flow(%s, timeout => 60)", (flow,))
    conn.execute("select pgflow.add_step(%s, 'only')", (flow,))
    run_id = conn.execute("select run_id from pgflow.start_flow(%s, '{}')", (flow,)).fetchone()[0]  # type: ignore[index]
    worker = insert_worker(conn, flow, function_name=function_name)
    ids = [r[0] for r in conn.execute("select msg_id from pgmq.read(%s, 30, 10)", (flow,)).fetchall()]
    assert len(conn.execute("select * from pgflow.start_tasks(%s, %s, %s)", (flow, ids, worker)).fetchall()) == 1
    return run_id, worker


def test_maintain_once_requeues_dead_workers_tasks_and_fails_tasks_stalled_past_the_limit(
    conn: psycopg.Connection[Any], db_dsn: str
) -> None:
    dead_run, dead = _started_task(conn, "mt_dead", "pgflow-py")
    edge_run, _ = _started_task(conn, "mt_edge", "edge-worker")
    stalled_run, _ = _started_task(conn, "mt_stalled", "pgflow-py")
    # the first two workers' heartbeats stopped 20 s ago (over the default 15 s); the third one is
    # alive but its task was given up on by requeue_stalled_tasks (3 requeues)
    conn.execute("update pgflow.workers set last_heartbeat_at = clock_timestamp() - interval '20 seconds' "
                 "where queue_name in ('mt_dead', 'mt_edge')")
    conn.execute("update pgflow.step_tasks set requeued_count = 3, permanently_stalled_at = now() where run_id = %s",
                 (stalled_run,))

    proc = _maintain("--once", "--dsn", db_dsn)
    assert proc.returncode == 0, proc.stderr
    assert f"worker {dead} is dead (no heartbeat for over 15 s): requeued 1 of its task(s)" in proc.stderr
    assert f"task only[0] of run {stalled_run} stalled 4 times: failed (step failed, run failed)" in proc.stderr
    status = "select status, requeued_count from pgflow.step_tasks where run_id = %s"
    assert conn.execute(status, (dead_run,)).fetchone() == ("queued", 1)
    assert conn.execute(status, (edge_run,)).fetchone() == ("started", 0), "only pgflow-py workers by default"
    assert conn.execute("select status from pgflow.runs where run_id = %s", (stalled_run,)).fetchone() == ("failed",)

    # another function_name, and the switch
    off = _maintain("--once", "--dsn", db_dsn, "--function-name", "edge-worker", "--no-dead-workers")
    assert off.returncode == 0 and "no dead worker" not in off.stderr and "is dead" not in off.stderr
    assert conn.execute(status, (edge_run,)).fetchone() == ("started", 0)
    edge = _maintain("--once", "--dsn", db_dsn, "--function-name", "edge-worker", "--dead-worker-timeout", "10")
    assert edge.returncode == 0 and "requeued 1 of its task(s)" in edge.stderr, edge.stderr
    assert conn.execute(status, (edge_run,)).fetchone() == ("queued", 1)


def test_maintain_refuses_a_non_positive_dead_worker_timeout(db_dsn: str) -> None:
    proc = _maintain("--once", "--dsn", db_dsn, "--dead-worker-timeout", "0")
    assert proc.returncode != 0
    assert "--dead-worker-timeout" in proc.stderr
