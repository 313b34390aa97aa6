"""Batched completion in the worker: results reach pgflow.complete_tasks in groups, and the
worker falls back to complete_task when the batched call is unavailable or fails."""

from __future__ import annotations

from typing import Any

import psycopg

from pgflow.client import AsyncPgflowSqlClient
from pgflow.dsl import Flow
from pgflow.types import RunStatus
from pgflow.worker import Worker
from tests.support.worker import FAST, running


def fanout_flow(slug: str) -> Flow:
    f = Flow(slug)

    @f.map("each")
    async def each(x: int) -> int:
        return x * 10

    @f.step("total", depends_on=["each"])
    async def total(deps: dict[str, Any]) -> int:
        return sum(deps["each"])

    return f


async def _run_all(dsn: str, slug: str, worker: Worker, inputs: list[list[int]]) -> list[Any]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        async with running(worker):
            runs = [await client.start_flow(slug, value) for value in inputs]
            states = [await client.wait_for_run(r.run_id, timeout=30) for r in runs]
    return states


async def test_maps_and_joins_complete_through_batches(db_dsn: str) -> None:
    worker = Worker(fanout_flow("wb_batched"), db_dsn, concurrency=8, batch_size=8, **FAST)
    states = await _run_all(db_dsn, "wb_batched", worker, [list(range(40)), list(range(7)), []])
    assert [s.run.status for s in states] == [RunStatus.COMPLETED] * 3
    assert [s.run.output for s in states] == [{"total": 7800}, {"total": 210}, {"total": 0}]
    assert worker.stats["completed"] == 40 + 1 + 7 + 1 + 1
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        left = await (await conn.execute("select count(*) from pgmq.q_wb_batched")).fetchone()
    assert left == (0,), "every task message is archived"


async def test_falls_back_to_complete_task_without_complete_tasks(db_dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        await conn.execute(
            "drop function pgflow.complete_tasks(uuid[], text[], int[], jsonb[])"
        )
    worker = Worker(fanout_flow("wb_fallback"), db_dsn, **FAST)
    states = await _run_all(db_dsn, "wb_fallback", worker, [list(range(12))])
    assert states[0].run.status == RunStatus.COMPLETED
    assert states[0].run.output == {"total": 660}
    assert worker.stats["completed"] == 13


async def test_a_failing_batch_is_reported_task_by_task(db_dsn: str) -> None:
    """A batch that raises (here: a trigger refuses the first batch) is rolled back whole; its
    tasks are then reported one by one and every run still completes once."""
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        await conn.execute(
            """
            create sequence public.wb_batch_updates;  -- nextval survives the rollback
            create function public.wb_refuse_batch() returns trigger language plpgsql as $$
            begin
                if current_query() like '%complete_tasks%' and nextval('public.wb_batch_updates') = 1 then
                    raise exception 'refused once';
                end if;
                return new;
            end $$;
            create trigger wb_refuse before update on pgflow.step_tasks
            for each row when (new.status = 'completed') execute function public.wb_refuse_batch();
            """
        )
    worker = Worker(fanout_flow("wb_refused"), db_dsn, **FAST)
    states = await _run_all(db_dsn, "wb_refused", worker, [list(range(5)), list(range(3))])
    assert [s.run.status for s in states] == [RunStatus.COMPLETED] * 2
    assert [s.run.output for s in states] == [{"total": 100}, {"total": 30}]
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        row = await (await conn.execute(
            "select count(*), count(*) filter (where attempts_count = 1) from pgflow.step_tasks "
            "where flow_slug = 'wb_refused' and status = 'completed'"
        )).fetchone()
        refused = await (await conn.execute("select is_called from public.wb_batch_updates")).fetchone()
    assert refused == (True,), "the first batched update was refused"
    assert row == (10, 10), "each task completed once, on its first attempt"
