"""Worker hooks against a real database and a real worker: sync and async hooks, their order,
hooks that raise or block, and on_run_finished once per run (also across two workers)."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import Any

import psycopg
import pytest

from pgflow.client import AsyncPgflowSqlClient
from pgflow.dsl import Flow
from pgflow.types import RunStatus, RunWithStates
from pgflow.worker import Worker
from pgflow.worker.hooks import Hooks, RunFinished, TaskCompleted, TaskFailed, TaskStarted
from tests.support.waiting import await_until
from tests.support.worker import FAST, running


async def start_and_wait(dsn: str, flow: str, input: Any) -> RunWithStates:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        run = await client.start_flow(flow, input)
        return await client.wait_for_run(run.run_id, timeout=30)


def chain_flow(slug: str) -> Flow:
    f = Flow(slug, max_attempts=2, base_delay=1)

    @f.step("first")
    async def first(inp: dict[str, Any]) -> int:
        return int(inp["n"]) + 1

    @f.step("second", depends_on=["first"])
    def second(deps: dict[str, Any]) -> int:
        if deps["first"] < 0:
            raise ValueError(f"negative: {deps['first']}")
        return deps["first"] * 10

    return f


async def test_sync_and_async_hooks_see_every_task_in_order(db_dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, str, Any]] = []
    finished: list[RunFinished] = []

    def broken_before(event: TaskStarted) -> None:
        raise RuntimeError("hook bug")

    async def async_before(event: TaskStarted) -> None:
        seen.append(("before", event.step_slug, event.attempt))

    def sync_after(event: TaskCompleted) -> None:
        assert threading.current_thread().name.startswith("pgflow-hook"), "sync hooks run in their own threads"
        seen.append(("after", event.step_slug, event.output))

    async def broken_after(event: TaskCompleted) -> None:
        raise KeyError("async hook bug")

    worker = Worker(
        chain_flow("h_chain"), db_dsn, **FAST,
        before_task=[broken_before, async_before], after_task=[broken_after, sync_after],
    )

    @worker.on_run_finished
    async def record_finished(event: RunFinished) -> None:
        finished.append(event)

    with caplog.at_level(logging.WARNING, logger="pgflow.worker.hooks"):
        async with running(worker):
            state = await start_and_wait(db_dsn, "h_chain", {"n": 1})
            await await_until("on_run_finished", lambda: finished)
            await await_until("the last after_task hook", lambda: len(seen) == 4)

    # the raising hooks changed nothing: the run completed, the next hook of each event ran
    assert state.run.status is RunStatus.COMPLETED and state.run.output == {"second": 20}
    # each task: before, then after (the next task may start before the previous after-hook ran)
    assert sorted(seen, key=str) == sorted(
        [("before", "first", 1), ("after", "first", 2), ("before", "second", 1), ("after", "second", 20)], key=str
    )
    assert seen.index(("before", "first", 1)) < seen.index(("after", "first", 2))
    assert seen.index(("before", "second", 1)) < seen.index(("after", "second", 20))
    assert len(finished) == 1
    run = finished[0]
    assert (run.flow_slug, run.run_id, run.status, run.output) == ("h_chain", state.run.run_id, "completed",
                                                                 {"second": 20})
    assert run.worker_id == worker.worker_id and run.error_message is None
    logged = {(r.hook, r.hook_kind) for r in caplog.records if hasattr(r, "hook")}  # type: ignore[attr-defined]
    assert logged == {
        ("test_sync_and_async_hooks_see_every_task_in_order.<locals>.broken_before", "before_task"),
        ("test_sync_and_async_hooks_see_every_task_in_order.<locals>.broken_after", "after_task"),
    }
    assert any("RuntimeError: hook bug" in r.getMessage() for r in caplog.records)


async def test_error_hooks_see_each_failed_attempt_and_the_failed_run(db_dsn: str) -> None:
    hooks = Hooks()
    errors: list[TaskFailed] = []
    finished: list[RunFinished] = []
    hooks.on_task_error(errors.append)  # a plain sync callable
    hooks.on_run_finished(finished.append)

    async with running(Worker(chain_flow("h_fail"), db_dsn, **FAST, hooks=hooks)):
        state = await start_and_wait(db_dsn, "h_fail", {"n": -5})
        await await_until("on_run_finished", lambda: finished)

    assert state.run.status is RunStatus.FAILED
    assert [(e.step_slug, e.attempt, e.error_message) for e in errors] == [
        ("second", 1, "ValueError: negative: -4"),
        ("second", 2, "ValueError: negative: -4"),
    ]
    assert all(isinstance(e.error, ValueError) and e.duration >= 0 for e in errors)
    assert [(f.run_id, f.status, f.error_message) for f in finished] == [
        (state.run.run_id, "failed", "ValueError: negative: -4")
    ]


async def test_a_blocked_sync_hook_blocks_neither_the_loop_nor_other_runs(db_dsn: str) -> None:
    release = threading.Event()
    blocked = threading.Event()

    def stuck_after(event: TaskCompleted) -> None:
        if event.step_slug == "second" and not blocked.is_set():
            blocked.set()
            release.wait(30)

    try:
        async with running(Worker(chain_flow("h_block"), db_dsn, **FAST, after_task=stuck_after)):
            first = await start_and_wait(db_dsn, "h_block", {"n": 1})
            await await_until("the hook to block", blocked.is_set)
            second = await start_and_wait(db_dsn, "h_block", {"n": 2})  # served while the hook blocks
            assert not release.is_set()
            release.set()
    finally:
        release.set()
    assert first.run.status is second.run.status is RunStatus.COMPLETED


async def test_on_run_finished_fires_once_per_run_across_two_workers(db_dsn: str) -> None:
    finished: list[tuple[uuid.UUID, uuid.UUID]] = []

    def hook_of(worker_no: int) -> Any:
        async def record(event: RunFinished) -> None:
            finished.append((event.run_id, event.worker_id))
        return record

    flow = chain_flow("h_fleet")
    w1 = Worker(flow, db_dsn, **FAST, on_run_finished=hook_of(1))
    w2 = Worker(flow, db_dsn, **FAST, on_run_finished=hook_of(2), compile="verify")
    async with running(w1), running(w2):
        states = await asyncio.gather(*(start_and_wait(db_dsn, "h_fleet", {"n": n}) for n in range(12)))
        run_ids = {s.run.run_id for s in states}
        await await_until("a report of every run", lambda: {r for r, _ in finished} == run_ids)
        # one more run, reported after every earlier one: an earlier duplicate would have arrived
        last = await start_and_wait(db_dsn, "h_fleet", {"n": 99})
        await await_until("the last run's report", lambda: last.run.run_id in {r for r, _ in finished})
    assert all(s.run.status is RunStatus.COMPLETED for s in states)
    assert sorted(r for r, _ in finished) == sorted([*run_ids, last.run.run_id]), "each run reported once"
    assert {w for _, w in finished} <= {w1.worker_id, w2.worker_id}


def test_hooks_reject_what_is_not_callable() -> None:
    with pytest.raises(TypeError, match="a hook must be callable"):
        Hooks().add("after_task", [42])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unknown hook kind 'after'"):
        Hooks().add("after", print)  # type: ignore[arg-type]


async def test_on_run_finished_with_inline_completions(db_dsn: str) -> None:
    finished: list[RunFinished] = []
    worker = Worker(chain_flow("h_inline"), db_dsn, **FAST, batch_completions=False, on_run_finished=finished.append)
    async with running(worker):
        state = await start_and_wait(db_dsn, "h_inline", {"n": 4})  # complete_task on a pooled connection
        await await_until("on_run_finished", lambda: finished)
    assert [(f.run_id, f.status, f.output) for f in finished] == [(state.run.run_id, "completed", {"second": 50})]
