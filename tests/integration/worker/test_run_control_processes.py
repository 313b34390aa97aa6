"""Run control end to end, with real worker processes (tests/support/worker_main.py serving
tests/support/runctl_flows.py): cancel mid-map, retry, resume (handler calls counted), a handler
past its step's timeout, and prune beside a busy worker."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bench.pruned_history import prefill

from pgflow.client import PgflowSqlClient
from pgflow.types import RunStatus
from tests.support.processes import WorkerProcess, spawn_worker
from tests.support.runctl_flows import busy_flow, create_calls_table
from tests.support.sql import compile_flow, one, queue_size
from tests.support.waiting import wait_until

FLOWS = "tests.support.runctl_flows"
FAST = {"heartbeat_interval": 0.5, "max_poll_seconds": 0.5, "poll_interval_ms": 50, "shutdown_grace": 5}


@pytest.fixture
def client(conn: psycopg.Connection[Any]) -> PgflowSqlClient:
    create_calls_table(conn)
    return PgflowSqlClient(conn)


def _worker(db_dsn: str, flow: str, tmp: Path, procs: list[WorkerProcess], **options: Any) -> WorkerProcess:
    w = spawn_worker(db_dsn, f"{FLOWS}:{flow}", tmp, name=flow, **{**FAST, **options})
    procs.append(w)
    w.expect("READY", timeout=60)
    return w


def _calls(conn: psycopg.Connection[Any], run_id: uuid.UUID) -> dict[tuple[str, int], int]:
    rows = conn.execute(
        "select step, idx, count(*) from public.rc_calls where run_id = %s group by step, idx", (run_id,)
    ).fetchall()
    return {(step, idx): int(n) for step, idx, n in rows}


def _status(conn: psycopg.Connection[Any], run_id: uuid.UUID) -> str:
    return str(one(conn, "select status from pgflow.runs where run_id = %s", run_id))


def _wait_status(conn: psycopg.Connection[Any], run_id: uuid.UUID, status: str, timeout: float = 60) -> None:
    wait_until(f"run {run_id} {status}", lambda: _status(conn, run_id) == status, timeout=timeout)


def test_cancel_mid_map_the_remaining_tasks_never_run(
    db_dsn: str, conn: psycopg.Connection[Any], client: PgflowSqlClient, procs: list[WorkerProcess], tmp_path: Path
) -> None:
    _worker(db_dsn, "map_flow", tmp_path, procs, concurrency=2, batch_size=2)
    elements = [{"i": i, "hold": i >= 2} for i in range(20)]
    run = client.start_flow("rc_map", elements)
    wait_until("two held tasks running", lambda: sum(_calls(conn, run.run_id).values()) == 4, timeout=60)

    cancelled = client.cancel_run(run.run_id)
    assert cancelled.status is RunStatus.CANCELLED
    (tmp_path / "open").touch()  # the two running handlers return now: their results must change nothing
    after = client.start_flow("rc_map", [{"i": 0}, {"i": 1}])  # the worker drains its queue past the cancel
    _wait_status(conn, after.run_id, "completed")

    assert _calls(conn, run.run_id) == {("each", 0): 1, ("each", 1): 1, ("each", 2): 1, ("each", 3): 1}
    statuses = dict(conn.execute(
        "select task_index, status from pgflow.step_tasks where run_id = %s", (run.run_id,)
    ).fetchall())
    assert statuses == {i: ("completed" if i < 2 else "cancelled") for i in range(20)}
    assert _status(conn, run.run_id) == "cancelled"
    assert one(conn, "select status from pgflow.step_states where run_id = %s", run.run_id) == "cancelled"
    assert queue_size(conn, "rc_map") == 0


def test_retry_starts_a_linked_run_that_completes(
    db_dsn: str, conn: psycopg.Connection[Any], client: PgflowSqlClient, procs: list[WorkerProcess], tmp_path: Path
) -> None:
    _worker(db_dsn, "chain_flow", tmp_path, procs)
    run = client.start_flow("rc_chain", {"n": 5})
    _wait_status(conn, run.run_id, "failed")
    (tmp_path / "fixed").touch()

    retry = client.retry_run(run.run_id)
    assert retry.retry_of_run_id == run.run_id and retry.input == {"n": 5}
    _wait_status(conn, retry.run_id, "completed")
    state = client.get_run(run.run_id)
    assert state is not None and state.run.status is RunStatus.FAILED and state.run.retried_by_run_id == retry.run_id
    assert one(conn, "select output from pgflow.runs where run_id = %s", retry.run_id) == {"finish": 100}
    expected = {("prep", 0): 1, **{("double", i): 1 for i in range(5)}, ("finish", 0): 1}
    assert _calls(conn, retry.run_id) == expected
    assert _calls(conn, run.run_id) == expected  # the old run's work was not touched by the retry


def test_resume_after_a_late_failure_runs_only_the_failed_step_again(
    db_dsn: str, conn: psycopg.Connection[Any], client: PgflowSqlClient, procs: list[WorkerProcess], tmp_path: Path
) -> None:
    _worker(db_dsn, "chain_flow", tmp_path, procs)
    run = client.start_flow("rc_chain", {"n": 5})
    _wait_status(conn, run.run_id, "failed")
    (tmp_path / "fixed").touch()

    resumed = client.resume_run(run.run_id)
    assert resumed.run_id == run.run_id and resumed.status is RunStatus.STARTED
    _wait_status(conn, run.run_id, "completed")
    assert one(conn, "select output from pgflow.runs where run_id = %s", run.run_id) == {"finish": 100}
    assert _calls(conn, run.run_id) == {("prep", 0): 1, **{("double", i): 1 for i in range(5)}, ("finish", 0): 2}
    assert one(conn, "select remaining_steps from pgflow.runs where run_id = %s", run.run_id) == 0


def test_a_handler_past_its_step_timeout_fails_the_attempt_and_is_retried(
    db_dsn: str, conn: psycopg.Connection[Any], client: PgflowSqlClient, procs: list[WorkerProcess], tmp_path: Path
) -> None:
    _worker(db_dsn, "timeout_flow", tmp_path, procs, concurrency=6)
    run = client.start_flow("rc_timeout", {})
    _wait_status(conn, run.run_id, "completed", timeout=90)

    assert one(conn, "select output from pgflow.runs where run_id = %s", run.run_id) == {
        "slow_async": "async ok", "slow_sync": "sync ok", "extended": "extended ok",
        "extended_sync": "extended sync ok", "limited": "limited ok",
    }
    assert _calls(conn, run.run_id) == {
        ("slow_async", 0): 2, ("slow_sync", 0): 2, ("extended", 0): 1, ("extended_sync", 0): 1, ("limited", 0): 2,
    }
    errors = dict(conn.execute(
        "select step_slug, error_message from pgflow.step_tasks where run_id = %s", (run.run_id,)
    ).fetchall())
    assert errors["slow_async"] == "TimeoutError: step slow_async exceeded its timeout of 3 s"
    assert errors["slow_sync"] == "TimeoutError: step slow_sync exceeded its timeout of 3 s"
    assert errors["limited"] == "RetryAfter: HTTP 429"  # retried after 1 s, not the step's 120 s backoff
    assert errors["extended"] is None and errors["extended_sync"] is None


def test_prune_beside_a_busy_worker_loses_no_active_task(
    db_dsn: str, conn: psycopg.Connection[Any], client: PgflowSqlClient, procs: list[WorkerProcess], tmp_path: Path
) -> None:
    compile_flow(conn, busy_flow)
    old_runs = prefill(conn, "rc_busy", "each", 20_000, span=timedelta(days=1), offset=timedelta(hours=2))
    live = [client.start_flow("rc_busy", [{"i": 0, "hold": True}, *range(1, 10)])]
    live += [client.start_flow("rc_busy", list(range(10))) for _ in range(199)]
    w = _worker(db_dsn, "busy_flow", tmp_path, procs, retention="1h", maintenance_interval=0.2)

    pruned_while_busy = 0
    while True:  # this test's own prune, in small batches, beside the worker (which prunes too)
        deleted = client.prune_runs("1h", 50)
        if deleted == 0:
            break
        if _status(conn, live[0].run_id) == "started":
            pruned_while_busy += deleted
    assert pruned_while_busy > 0  # the held run keeps the worker busy until the gate opens
    wait_until("every old run pruned", lambda: one(
        conn, "select count(*) = 0 from pgflow.runs where started_at < now() - interval '1 hour'"), timeout=60)
    (tmp_path / "open").touch()

    ids = [r.run_id for r in live]
    wait_until("every live run completed", lambda: one(
        conn, "select count(*) from pgflow.runs where run_id = any(%s) and status = 'completed'", ids) == len(ids),
        timeout=120)
    assert one(conn, "select count(*) from pgflow.step_tasks where run_id = any(%s) and status = 'completed'",
               ids) == 10 * len(ids)
    assert one(conn, "select count(*) from pgflow.runs") == len(ids)  # the old runs are gone, every live one stays
    assert one(conn, "select bool_and(output = %s::jsonb) from pgflow.runs", '{"each": [0,2,4,6,8,10,12,14,16,18]}')
    assert queue_size(conn, "rc_busy") == 0
    assert one(conn, "select count(*) from pgmq.a_rc_busy") == 10 * len(ids)  # the old runs' archive went too
    assert old_runs == 2000
    assert "pruned" in w.log_text() or pruned_while_busy == old_runs
