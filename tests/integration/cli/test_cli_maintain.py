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
