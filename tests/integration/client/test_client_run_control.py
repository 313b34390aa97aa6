"""The run-control methods of the SQL client (sync and async) against a real database: typed
results, the retry link, resume, idempotent start, prune, and the domain errors."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
import pytest

from pgflow.client import AsyncPgflowSqlClient, PgflowSqlClient
from pgflow.dsl import Flow
from pgflow.errors import (
    FlowNotFound,
    IdempotencyConflict,
    InvalidInput,
    RunNotFound,
    RunStateError,
    StepNotFound,
    TaskNotFound,
)
from pgflow.types import RunStatus, StepStatus, TaskStatus

WORKER = uuid.UUID("00000000-0000-0000-0000-0000000000cc")
FLOW = "rc_client"


def _flow() -> Flow:
    f = Flow(FLOW, max_attempts=1, base_delay=1)

    @f.step("first")
    def first(inp: Any) -> Any:
        return inp

    @f.step("second", depends_on=["first"])
    def second(deps: Any) -> Any:
        return deps

    return f


@pytest.fixture
def client(conn: psycopg.Connection[Any]) -> PgflowSqlClient:
    for stmt in _flow().compile():
        conn.execute(stmt.encode())
    c = PgflowSqlClient(conn)
    c.register_worker(WORKER, FLOW, "test")
    return c


def _take(client: PgflowSqlClient) -> list[Any]:
    msgs = client.read_messages(FLOW, 30, 10, max_poll_seconds=0)
    return client.start_tasks(FLOW, [m.msg_id for m in msgs], WORKER)


def _fail_first(client: PgflowSqlClient, run_id: uuid.UUID) -> None:
    [task] = _take(client)
    assert task.run_id == run_id and task.step_slug == "first"
    client.fail_task(run_id, "first", 0, "boom")


def test_cancel_run_returns_the_cancelled_run_and_a_finished_run_unchanged(client: PgflowSqlClient) -> None:
    run = client.start_flow(FLOW, {"x": 1})
    cancelled = client.cancel_run(run.run_id)
    assert cancelled.run_id == run.run_id and cancelled.status is RunStatus.CANCELLED
    assert cancelled.cancelled_at is not None and cancelled.status.is_terminal
    again = client.cancel_run(run.run_id)
    assert again.status is RunStatus.CANCELLED and again.cancelled_at == cancelled.cancelled_at
    state = client.get_run(run.run_id)
    assert state is not None and state.step("first").status is StepStatus.CANCELLED
    assert _take(client) == []  # its message was archived
    assert client.wait_for_run(run.run_id, 5).run.status is RunStatus.CANCELLED  # a finished run
    with pytest.raises(RunNotFound, match="not found"):
        client.cancel_run(uuid.uuid4())


def test_retry_run_links_the_new_run_both_ways(client: PgflowSqlClient) -> None:
    run = client.start_flow(FLOW, {"x": 2})
    with pytest.raises(RunStateError, match="only a failed or cancelled run can be retried"):
        client.retry_run(run.run_id)
    _fail_first(client, run.run_id)
    retry = client.retry_run(run.run_id)
    assert retry.run_id != run.run_id and retry.status is RunStatus.STARTED
    assert retry.retry_of_run_id == run.run_id and retry.input == {"x": 2}
    assert client.retry_run(run.run_id).run_id == retry.run_id  # repeated: the same retry
    old = client.get_run(run.run_id)
    assert old is not None and old.run.retried_by_run_id == retry.run_id and old.run.retry_of_run_id is None
    new = client.get_run(retry.run_id)
    assert new is not None and new.run.retry_of_run_id == run.run_id and new.run.retried_by_run_id is None
    with pytest.raises(RunNotFound):
        client.retry_run(uuid.uuid4())


def test_resume_run_continues_the_same_run_without_rerunning_completed_steps(client: PgflowSqlClient) -> None:
    run = client.start_flow(FLOW, {"x": 3})
    [first] = _take(client)
    client.complete_task(run.run_id, first.step_slug, 0, {"ok": 1})
    [second] = _take(client)
    assert second.step_slug == "second"
    client.fail_task(run.run_id, "second", 0, "boom")
    failed = client.get_run(run.run_id)
    assert failed is not None and failed.run.status is RunStatus.FAILED
    resumed = client.resume_run(run.run_id)
    assert resumed.run_id == run.run_id and resumed.status is RunStatus.STARTED and resumed.failed_at is None
    [again] = _take(client)
    assert again.step_slug == "second" and again.input == {"first": {"ok": 1}}
    client.complete_task(run.run_id, "second", 0, "done")
    final = client.get_run(run.run_id)
    assert final is not None and final.run.status is RunStatus.COMPLETED
    assert final.run.output == {"second": "done"}
    assert client.resume_run(run.run_id).status is RunStatus.COMPLETED  # unchanged


def test_start_flow_idempotent_returns_the_first_run_and_refuses_another_input(client: PgflowSqlClient) -> None:
    first = client.start_flow_idempotent(FLOW, {"x": 4}, "order-42")
    second = client.start_flow_idempotent(FLOW, {"x": 4}, "order-42")
    assert first.run_id == second.run_id
    with pytest.raises(IdempotencyConflict, match="different input") as info:
        client.start_flow_idempotent(FLOW, {"x": 5}, "order-42")
    assert isinstance(info.value, InvalidInput)
    assert client.start_flow_idempotent(FLOW, {"x": 4}, "order-43").run_id != first.run_id
    with pytest.raises(InvalidInput, match="idempotency_key must be a non-empty text"):
        client.start_flow_idempotent(FLOW, {"x": 4}, "")
    with pytest.raises(FlowNotFound):
        client.start_flow_idempotent("rc_no_such_flow", {}, "k")


def test_prune_runs_deletes_finished_runs_and_counts_them(client: PgflowSqlClient, conn: psycopg.Connection) -> None:
    done = [client.start_flow(FLOW, {"i": i}) for i in range(3)]
    for r in done:
        client.cancel_run(r.run_id)
    live = client.start_flow(FLOW, {"i": 99})
    assert client.prune_runs("1h") == 0  # finished just now
    conn.execute(
        "update pgflow.runs set started_at = started_at - interval '2 days', cancelled_at = cancelled_at "
        "- interval '2 days' where status = 'cancelled'"
    )
    assert client.prune_runs(dt.timedelta(days=1), max_runs=2) == 2
    assert client.prune_runs("1d") == 1
    assert client.prune_runs("0s") == 0
    assert client.get_run(live.run_id) is not None and client.get_run(done[0].run_id) is None
    with pytest.raises(InvalidInput, match="older_than must be a number with a unit"):
        client.prune_runs("7 days")
    with pytest.raises(InvalidInput, match="max_runs must be at least 1"):
        client.prune_runs("1d", max_runs=0)


def test_extend_task_timeout_and_fail_task_with_delay(client: PgflowSqlClient, conn: psycopg.Connection) -> None:
    run = client.start_flow(FLOW, {"x": 6})
    assert client.extend_task_timeout(run.run_id, "first", 0, 300) is None  # queued: not the caller's
    [task] = _take(client)
    deadline = client.extend_task_timeout(run.run_id, "first", 0, 300)
    assert isinstance(deadline, dt.datetime)
    now = conn.execute("select now()").fetchone()
    assert now is not None and deadline >= now[0] + dt.timedelta(seconds=299)
    with pytest.raises(TaskNotFound, match="not found"):
        client.extend_task_timeout(run.run_id, "first", 7, 300)
    with pytest.raises(InvalidInput, match="seconds must be a positive number"):
        client.extend_task_timeout(run.run_id, "first", 0, 0)
    client.set_retry_policy(FLOW, retry_jitter=0.5, max_retry_delay=60)
    conn.execute("update pgflow.flows set opt_max_attempts = 2 where flow_slug = %s", (FLOW,))
    stale = client.fail_task_with_delay(run.run_id, "first", 0, "HTTP 429", 120, expected_attempt=5)
    assert stale is None  # guarded: not the attempt being reported
    row = client.fail_task_with_delay(run.run_id, "first", 0, "HTTP 429", 120, expected_attempt=task.attempts_count)
    assert row is not None and row.status is TaskStatus.QUEUED and row.error_message == "HTTP 429"
    hidden = conn.execute(
        f"select extract(epoch from vt - now()) from pgmq.q_{FLOW} where msg_id = %s", (row.message_id,)
    ).fetchone()
    assert hidden is not None and 110 < float(hidden[0]) <= 120


def test_set_retry_policy_errors_name_what_was_wrong(client: PgflowSqlClient, conn: psycopg.Connection) -> None:
    client.set_retry_policy(FLOW, "second", max_retry_delay=10)
    row = conn.execute(
        "select opt_retry_jitter, opt_max_retry_delay from pgflow.steps where flow_slug = %s and step_slug = 'second'",
        (FLOW,),
    ).fetchone()
    assert row == (None, 10)
    with pytest.raises(FlowNotFound, match="rc_nope"):
        client.set_retry_policy("rc_nope", retry_jitter=0.1)
    with pytest.raises(StepNotFound, match="nope"):
        client.set_retry_policy(FLOW, "nope", retry_jitter=0.1)
    with pytest.raises(InvalidInput, match="retry_jitter must be between 0 and 1"):
        client.set_retry_policy(FLOW, retry_jitter=1.5)


async def test_async_client_run_control(db_dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as aconn:
        for stmt in _flow().compile():
            await aconn.execute(stmt.encode())
        client = AsyncPgflowSqlClient(aconn)
        run = await client.start_flow_idempotent(FLOW, {"a": 1}, "k-async")
        assert (await client.start_flow_idempotent(FLOW, {"a": 1}, "k-async")).run_id == run.run_id
        cancelled = await client.cancel_run(run.run_id)
        assert cancelled.status is RunStatus.CANCELLED
        retry = await client.retry_run(run.run_id)
        assert retry.retry_of_run_id == run.run_id
        resumed = await client.resume_run(run.run_id)
        assert resumed.run_id == run.run_id and resumed.status is RunStatus.STARTED
        assert await client.prune_runs("1d") == 0
        with pytest.raises(RunNotFound):
            await client.resume_run(uuid.uuid4())
