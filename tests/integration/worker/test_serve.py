"""pgflow.serve / Flow.serve: a worker inside the caller's own asyncio program."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

import pgflow
from pgflow.client import AsyncPgflowSqlClient
from pgflow.dsl import Flow
from pgflow.worker import State
from tests.support.waiting import await_until
from tests.support.worker import FAST


def _double_flow(slug: str) -> Flow:
    flow = Flow(slug, max_attempts=1)

    @flow.step("double")
    def double(run: dict[str, int]) -> int:
        return run["n"] * 2

    return flow


async def _stopped_at(dsn: str, worker_id: object) -> object:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute("select stopped_at from pgflow.workers where worker_id = %s", (worker_id,))
        row = await cur.fetchone()
    assert row is not None
    return row[0]


async def test_the_context_manager_returns_once_the_worker_polls_and_stops_it_on_exit(db_dsn: str) -> None:
    flow = _double_flow("serve_cm")
    async with pgflow.serve([flow], db_dsn, **FAST) as worker, \
            await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        assert worker.is_running and worker.started.is_set()
        client = AsyncPgflowSqlClient(conn)
        run = await client.start_flow("serve_cm", {"n": 21})  # the flow was compiled before entry returned
        final = await client.wait_for_run(run.run_id, timeout=30)
        assert final.run.output == {"double": 42}
    assert worker.state is State.STOPPED
    assert await _stopped_at(db_dsn, worker.worker_id) is not None


async def test_awaiting_flow_serve_serves_until_cancelled_then_drains_in_flight_tasks(db_dsn: str) -> None:
    flow = Flow("serve_await", max_attempts=1)
    entered, release = asyncio.Event(), asyncio.Event()

    @flow.step("slow")
    async def slow(run: dict[str, str]) -> str:
        entered.set()
        await release.wait()
        return run["word"]

    serving = flow.serve(db_dsn, **FAST)
    task = asyncio.create_task(_await(serving))
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        await asyncio.wait_for(serving.worker.started.wait(), 30)
        run = await client.start_flow("serve_await", {"word": "done"})
        await asyncio.wait_for(entered.wait(), 30)
        task.cancel()  # the application shuts down while a handler runs
        await await_until("the drain to start", lambda: serving.worker.state is State.DRAINING)
        assert not task.done(), "cancelling must wait for the drain"
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        final = await client.get_run(run.run_id)
    assert final is not None and final.run.status == "completed" and final.run.output == {"slow": "done"}
    assert serving.worker.state is State.STOPPED


async def _await(serving: pgflow.Serving) -> None:
    await serving


async def test_a_worker_that_cannot_start_raises_its_error_from_entry(db_dsn: str) -> None:
    serving = pgflow.serve(_double_flow("serve_missing"), db_dsn, compile="verify", **FAST)
    with pytest.raises(pgflow.FlowNotFound):
        async with serving:
            raise AssertionError("entered although the flow is not compiled")
    assert serving.worker.state is State.STOPPED
    with pytest.raises(pgflow.PgflowError, match="started already"):
        await serving.start()
