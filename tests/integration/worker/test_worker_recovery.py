"""The worker's own recovery sweep (issue 21) against a real database: a dead worker's task is
requeued (and run) by a live worker's maintenance, with a WARNING naming the dead worker; a worker
of another function_name is not judged; a task stalled past the requeue limit fails its run; the
switch turns dead-worker recovery off and leaves the rest of the sweep on.

A "dead worker" is a pgflow.workers row that started a task and whose heartbeat is an hour old
(time injected by moving last_heartbeat_at back); nothing sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import psycopg
import pytest

from pgflow.client import AsyncPgflowSqlClient
from pgflow.dsl import Flow
from pgflow.worker import Worker
from pgflow.worker.heartbeat import Heartbeat
from pgflow.worker.services import requeue_dead_workers_job
from tests.support.sql import compile_flow, insert_worker, one, read_and_start, run_row, start_flow
from tests.support.waiting import await_until
from tests.support.worker import FAST, running

SWEEPING = {**FAST, "function_name": "tests", "heartbeat_interval": 0.2, "maintenance_interval": 0.2}


def single_flow(slug: str) -> Flow:
    f = Flow(slug, timeout=60)

    @f.step("only")
    async def only(inp: Any) -> dict[str, Any]:
        return {"echo": inp}

    return f


def _started_by(conn: psycopg.Connection, flow: str, function_name: str, *, dead: bool) -> tuple[uuid.UUID, uuid.UUID]:
    """A run of ``flow`` whose task a worker row of ``function_name`` started; its heartbeat an
    hour old when ``dead``. Returns (run_id, worker_id)."""
    run_id = start_flow(conn, flow, {"n": 1})["run_id"]
    wid = insert_worker(conn, flow, function_name=function_name)
    assert len(read_and_start(conn, flow, wid)) == 1
    if dead:
        conn.execute("update pgflow.workers set last_heartbeat_at = clock_timestamp() - interval '1 hour' "
                     "where worker_id = %s", (wid,))
    return run_id, wid


def _stalled_past_limit(conn: psycopg.Connection, flow: str) -> uuid.UUID:
    """A run whose task is permanently stalled, as requeue_stalled_tasks leaves it after 3
    requeues (its worker alive, so no other sweep touches it)."""
    run_id, _ = _started_by(conn, flow, "tests", dead=False)
    conn.execute("update pgflow.step_tasks set requeued_count = 3, permanently_stalled_at = now() "
                 "where run_id = %s", (run_id,))
    return run_id


def _task(conn: psycopg.Connection, run_id: uuid.UUID) -> tuple[Any, ...]:
    row = conn.execute("select status, requeued_count, error_message from pgflow.step_tasks where run_id = %s",
                       (run_id,)).fetchone()
    assert row is not None
    return tuple(row)


async def test_dead_workers_task_is_requeued_and_run_by_a_live_worker(
    conn: psycopg.Connection, db_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    flow = single_flow("wr_dead")
    compile_flow(conn, flow)
    dead_run, dead_id = _started_by(conn, "wr_dead", "tests", dead=True)
    other_run, _ = _started_by(conn, "wr_dead", "edge-worker", dead=True)  # another kind of worker

    caplog.set_level(logging.WARNING, logger="pgflow.worker.services")
    async with running(Worker(flow, db_dsn, **SWEEPING)):
        await await_until("the dead worker's run to complete", lambda: run_row(conn, dead_run)["status"] == "completed")

    assert _task(conn, dead_run) == ("completed", 1, None)
    assert _task(conn, other_run) == ("started", 0, None), "a worker of another function_name is not judged"
    [line] = [r for r in caplog.records if getattr(r, "worker_id", None) == str(dead_id)]
    assert line.levelno == logging.WARNING and line.task_count == 1  # type: ignore[attr-defined]
    assert f"worker {dead_id} is dead" in line.getMessage() and "requeued 1 of its task(s)" in line.getMessage()


async def test_task_stalled_past_the_limit_fails_its_run(
    conn: psycopg.Connection, db_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    flow = single_flow("wr_stalled")
    compile_flow(conn, flow)
    run_id = _stalled_past_limit(conn, "wr_stalled")

    caplog.set_level(logging.WARNING, logger="pgflow.worker.services")
    async with running(Worker(flow, db_dsn, **SWEEPING)):
        await await_until("the run to fail", lambda: run_row(conn, run_id)["status"] == "failed")

    status, _, error = _task(conn, run_id)
    assert status == "failed" and error.startswith("Task stalled 4 times (requeued 3 times, the limit)")
    assert one(conn, "select status from pgflow.step_states where run_id = %s", run_id) == "failed"
    assert any("stalled 4 times: failed (step failed, run failed)" in r.getMessage() for r in caplog.records)


async def test_switched_off_dead_worker_recovery_leaves_dead_workers_tasks(
    conn: psycopg.Connection, db_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    flow = single_flow("wr_off")
    compile_flow(conn, flow)
    dead_run, _ = _started_by(conn, "wr_off", "tests", dead=True)
    stalled_run = _stalled_past_limit(conn, "wr_off")

    caplog.set_level(logging.WARNING, logger="pgflow.worker.services")
    async with running(Worker(flow, db_dsn, recover_dead_workers=False, **SWEEPING)):
        # fail_stalled_tasks runs after requeue_dead_worker_tasks in a pass: once it has, the
        # dead-worker job would have run too, had it been on
        await await_until("the sweep to fail the stalled run", lambda: run_row(conn, stalled_run)["status"] == "failed")

    assert _task(conn, dead_run) == ("started", 0, None)
    assert not [r for r in caplog.records if "is dead" in r.getMessage()]


async def test_heartbeat_thread_registers_a_deleted_worker_row_again(conn: psycopg.Connection, db_dsn: str) -> None:
    flow = single_flow("wr_gone")
    worker = Worker(flow, db_dsn, **SWEEPING)
    async with running(worker):
        conn.execute("delete from pgflow.workers where worker_id = %s", (worker.worker_id,))
        await await_until("the row to be registered again", lambda: bool(
            one(conn, "select count(*) from pgflow.workers where worker_id = %s", worker.worker_id)))
        beat = one(conn, "select last_heartbeat_at from pgflow.workers where worker_id = %s", worker.worker_id)
        await await_until("a heartbeat on the new row", lambda: one(
            conn, "select last_heartbeat_at from pgflow.workers where worker_id = %s", worker.worker_id) > beat)
    assert one(conn, "select stopped_at is not null from pgflow.workers where worker_id = %s", worker.worker_id)


async def test_a_worker_whose_own_heartbeat_is_not_steady_judges_nobody(conn: psycopg.Connection, db_dsn: str) -> None:
    compile_flow(conn, single_flow("wr_steady"))
    dead_run, _ = _started_by(conn, "wr_steady", "tests", dead=True)
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as aconn:
        sql = AsyncPgflowSqlClient(aconn)
        # steady for 1 s, threshold 15 s: this worker may itself just be back from an outage
        await requeue_dead_workers_job(sql, 15.0, "tests", 1.0, steady_for=lambda: 1.0).run()
        assert _task(conn, dead_run) == ("started", 0, None)
        await requeue_dead_workers_job(sql, 15.0, "tests", 1.0, steady_for=lambda: 15.0).run()
        assert _task(conn, dead_run) == ("queued", 1, None)


async def test_heartbeat_steadiness_restarts_at_a_failed_beat(empty_db_dsn: str) -> None:
    # a database without pgflow: every beat fails (undefined table), as when the server is away
    seen: list[str] = []

    async def register(slug: str) -> None:
        seen.append(slug)

    heartbeat = Heartbeat(empty_db_dsn, {"f": uuid.uuid4()}, 0.05, set(), seen.append, register)
    service = asyncio.create_task(heartbeat.run())
    try:
        await await_until("a failed beat", lambda: heartbeat.failed_beats >= 1)
        after_first = heartbeat.steady_since
        await await_until("two more failed beats", lambda: heartbeat.failed_beats >= 3)
        assert heartbeat.steady_since > after_first and heartbeat.beats == 0
    finally:
        service.cancel()
        await asyncio.gather(service, return_exceptions=True)
    assert seen == [], "a failed beat is neither a deprecation nor a missing row"
