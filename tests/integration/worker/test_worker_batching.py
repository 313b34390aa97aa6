"""Batched completion in the worker: results reach pgflow.complete_tasks_count (or, claiming the
tasks they make ready, pgflow.complete_tasks_and_claim) in groups, and the worker falls back to
pgflow.complete_task when the batched call is unavailable or fails."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
import pytest

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


@pytest.mark.parametrize(
    ("claim", "batched_function"),
    [
        (True, "pgflow.complete_tasks_and_claim(uuid[], text[], int[], jsonb[], uuid, integer)"),
        (False, "pgflow.complete_tasks_count(uuid[], text[], int[], jsonb[])"),
    ],
)
async def test_falls_back_to_complete_task_without_the_batched_function(
    db_dsn: str, claim: bool, batched_function: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A database without the batched function the worker calls (claim_next_tasks picks which):
    the first batch finds it missing, batching stops, and every result goes through
    pgflow.complete_task, so the only way these runs can complete is the fallback."""
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        await conn.execute(f"drop function {batched_function}")
    slug = f"wb_fallback_{int(claim)}"
    worker = Worker(fanout_flow(slug), db_dsn, claim_next_tasks=claim, **FAST)
    with caplog.at_level(logging.WARNING, logger="pgflow.worker"):
        states = await _run_all(db_dsn, slug, worker, [list(range(12))])
    assert states[0].run.status == RunStatus.COMPLETED
    assert states[0].run.output == {"total": 660}
    assert worker.stats["completed"] == 13
    assert any("batched completion unavailable" in r.getMessage() for r in caplog.records)
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        row = await (await conn.execute(
            "select count(*), count(*) filter (where attempts_count = 1) from pgflow.step_tasks "
            "where flow_slug = %s and status = 'completed'", (slug,)
        )).fetchone()
    assert row == (13, 13), "each task completed once, on its first attempt"


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


@pytest.mark.parametrize("flows", [1, 2])
async def test_a_one_flow_workers_completion_batch_also_starts_its_next_queued_tasks(db_dsn: str, flows: int) -> None:
    """A worker that serves one flow: each completion batch reads and starts the flow's next
    queued tasks in its own transaction (each task after the first starts at the very now() its
    predecessor completed at). A worker of two flows leaves reading to its pollers (a completion
    batch taking queued tasks of one flow would starve the other of slots)."""
    slugs = [f"wb_read_{flows}_{i}" for i in range(flows)]
    defined = []
    for slug in slugs:
        f = Flow(slug)

        @f.step("only")
        async def only(x: int) -> int:
            return x + 1

        defined.append(f)
    worker = Worker(defined, db_dsn, concurrency=1, batch_size=1, **FAST)
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        for f in defined:  # compiled, then queued before the worker starts
            for stmt in f.compile():
                await conn.execute(stmt.encode())
        runs = [await client.start_flow(slugs[0], i) for i in range(5)]
        async with running(worker):
            states = [await client.wait_for_run(r.run_id, timeout=30) for r in runs]
        rows = await (await conn.execute(
            "select started_at, completed_at from pgflow.step_tasks where flow_slug = %s order by started_at",
            (slugs[0],),
        )).fetchall()
    assert [s.run.output for s in states] == [{"only": i + 1} for i in range(5)]
    started_as_predecessor_completed = sum(rows[i][0] == rows[i - 1][1] for i in range(1, len(rows)))
    assert started_as_predecessor_completed == (4 if flows == 1 else 0)


async def test_a_batch_with_two_results_of_one_run_leaves_reading_to_the_poller(db_dsn: str) -> None:
    """Results of one run (a map's tasks) complete under that run's row lock: their batch does not
    also read the next tasks (the other workers completing the same map would wait for the read),
    so no task starts in the transaction that completed two of its siblings."""
    slug = "wb_read_map"
    f = Flow(slug)
    pair = asyncio.Barrier(2)

    @f.map("each")
    async def each(x: int) -> int:
        await pair.wait()  # the two tasks of a poll finish together: one batch of two results
        return x * 10

    worker = Worker([f], db_dsn, concurrency=2, batch_size=2, **FAST)
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        for stmt in f.compile():
            await conn.execute(stmt.encode())
        run = await client.start_flow(slug, list(range(6)))
        async with running(worker):
            state = await client.wait_for_run(run.run_id, timeout=30)
        rows = await (await conn.execute(
            "select started_at, completed_at from pgflow.step_tasks where run_id = %s", (run.run_id,),
        )).fetchall()
    assert state.run.output == {"each": [x * 10 for x in range(6)]}
    completed_at = {r[1] for r in rows}
    assert len(completed_at) == 3, "three batches of two results"
    assert not any(r[0] in completed_at for r in rows), "no task started in a completing transaction"
