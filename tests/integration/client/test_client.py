"""The SQL client against a real database: round trips, caller transactions, NOTIFY waits,
output validation, worker bookkeeping."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from pgflow import migrator
from pgflow.client import AsyncPgflowSqlClient, PgflowSqlClient
from pgflow.dsl import Flow
from pgflow.errors import (
    FlowNotFound,
    InvalidInput,
    InvalidOutput,
    RunNotFound,
    RunTimeout,
    WorkerNotFound,
)
from pgflow.types import CompileStatus, RunStatus, StepStatus, TaskStatus

WORKER = uuid.UUID("00000000-0000-0000-0000-0000000000aa")


def _flow() -> Flow:
    f = Flow("client_flow", max_attempts=2, base_delay=1)

    @f.step("first")
    def first(inp: Any) -> Any:
        return inp

    @f.step("second", depends_on=["first"])
    def second(deps: Any) -> Any:
        return deps

    return f


def _map_flow() -> Flow:
    f = Flow("client_map")

    @f.map("each")
    def each(x: Any) -> Any:
        return x

    return f


@pytest.fixture
def client(conn: psycopg.Connection[Any]) -> PgflowSqlClient:
    for f in (_flow(), _map_flow()):
        for stmt in f.compile():
            conn.execute(stmt.encode())
    c = PgflowSqlClient(conn)
    c.register_worker(WORKER, "client_flow", "test")
    return c


def _take(client: PgflowSqlClient, flow: str = "client_flow", qty: int = 10) -> list[Any]:
    msgs = client.read_messages(flow, 30, qty, max_poll_seconds=0)
    return client.start_tasks(flow, [m.msg_id for m in msgs], WORKER)


def test_start_flow_and_get_run(client: PgflowSqlClient) -> None:
    run = client.start_flow("client_flow", {"x": 1})
    assert run.status is RunStatus.STARTED and run.flow_slug == "client_flow" and run.input == {"x": 1}
    state = client.get_run(run.run_id)
    assert state is not None and state.run.run_id == run.run_id
    assert [(s.step_slug, s.status) for s in state.steps] == [
        ("first", StepStatus.STARTED),
        ("second", StepStatus.CREATED),
    ]
    assert client.get_run(uuid.uuid4()) is None


def test_start_flow_with_given_run_id(client: PgflowSqlClient) -> None:
    rid = uuid.uuid4()
    assert client.start_flow("client_flow", {}, run_id=rid).run_id == rid


def test_full_round_trip(client: PgflowSqlClient) -> None:
    run = client.start_flow("client_flow", {"x": 1})
    [task] = _take(client)
    assert (task.step_slug, task.input, task.flow_input, task.task_index) == ("first", {}, {"x": 1}, 0)
    row = client.complete_task(task.run_id, task.step_slug, task.task_index, {"y": 2})
    assert row is not None and row.status is TaskStatus.COMPLETED and row.output == {"y": 2}
    [task2] = _take(client)
    assert task2.step_slug == "second" and task2.input == {"first": {"y": 2}} and task2.flow_input is None
    client.complete_task(task2.run_id, "second", 0, ["done"])
    state = client.get_run(run.run_id)
    assert state is not None and state.run.status is RunStatus.COMPLETED
    assert state.run.output == {"second": ["done"]}


def test_read_and_start_tasks_and_count_only_completion(client: PgflowSqlClient) -> None:
    run = client.start_flow("client_flow", {"x": 1})
    [(task, message)] = client.read_and_start_tasks("client_flow", WORKER, 30, 10)
    assert (task.step_slug, task.input, task.flow_input, task.attempts_count) == ("first", {}, {"x": 1}, 1)
    assert message.msg_id == task.msg_id and message.read_ct == 1
    body = {"flow_slug": "client_flow", "run_id": str(run.run_id), "step_slug": "first", "task_index": 0}
    assert message.message == body
    assert client.read_and_start_tasks("client_flow", WORKER, 30, 10) == []  # nothing visible
    done = client.complete_tasks_count([client.completion(task.run_id, "first", 0, {"y": 2})])
    assert done == 1
    [(task2, _)] = client.read_and_start_tasks("client_flow", WORKER, 30, 10)
    assert task2.step_slug == "second" and task2.input == {"first": {"y": 2}}
    assert client.complete_tasks_count([]) == 0
    assert client.complete_tasks_count([client.completion(uuid.uuid4(), "first", 0, 1)]) == 0  # unknown task


def test_complete_tasks_and_claim_hands_over_the_next_step(client: PgflowSqlClient) -> None:
    run = client.start_flow("client_flow", {"x": 1})
    [(first, _)] = client.read_and_start_tasks("client_flow", WORKER, 30, 10)
    assert first.step_slug == "first"
    done = [client.completion(run.run_id, "first", 0, {"y": 2})]
    [(nxt, message)] = client.complete_tasks_and_claim(done, WORKER, 5)
    assert (nxt.run_id, nxt.step_slug, nxt.input, nxt.attempts_count) == (run.run_id, "second", {"first": {"y": 2}}, 1)
    assert message.read_ct == 0 and message.message["step_slug"] == "second"
    assert client.read_and_start_tasks("client_flow", WORKER, 30, 10) == []  # its message is hidden
    assert client.complete_tasks_and_claim([client.completion(run.run_id, "second", 0, 3)], WORKER, 5) == []
    state = client.get_run(run.run_id)
    assert state is not None and state.run.status is RunStatus.COMPLETED and state.run.output == {"second": 3}
    assert client.complete_tasks_and_claim([], WORKER, 5) == []


def test_completion_batches_carry_any_json_output(client: PgflowSqlClient) -> None:
    """complete_tasks_count sends its arrays as literals built by the client: outputs with quotes,
    backslashes, braces, commas, control and non-ASCII characters, or the text "NULL", arrive as
    they were (JSON null stays JSON null)."""
    output = {"q": 'say "hi" \\ {a,b}', "u": "ü€\n\t", "n": None, "s": "NULL", "e": "", "l": [1, "}{"]}
    run = client.start_flow("client_flow", {})
    [(task, _)] = client.read_and_start_tasks("client_flow", WORKER, 30, 10)
    assert client.complete_tasks_count([client.completion(task.run_id, "first", 0, output)]) == 1
    [(task2, _)] = client.read_and_start_tasks("client_flow", WORKER, 30, 10)
    assert task2.input == {"first": output}
    assert client.complete_tasks_count([client.completion(run.run_id, "second", 0, None)]) == 1
    state = client.get_run(run.run_id)
    assert state is not None and state.run.output == {"second": None}


def test_fail_task_retries_then_fails_the_run(client: PgflowSqlClient, conn: psycopg.Connection[Any]) -> None:
    run = client.start_flow("client_flow", {})
    [task] = _take(client)
    row = client.fail_task(task.run_id, "first", 0, "ValueError: once")
    assert row is not None and row.status is TaskStatus.QUEUED and row.attempts_count == 1
    conn.execute("update pgmq.q_client_flow set vt = clock_timestamp()")
    [again] = _take(client)
    row = client.fail_task(again.run_id, "first", 0, "ValueError: twice")
    assert row is not None and row.status is TaskStatus.FAILED and row.error_message == "ValueError: twice"
    state = client.get_run(run.run_id)
    assert state is not None and state.run.status is RunStatus.FAILED
    assert state.step("first").error_message == "ValueError: twice"


def test_fail_task_sanitises_nul_in_error_messages(client: PgflowSqlClient) -> None:
    client.start_flow("client_flow", {})
    [task] = _take(client)
    row = client.fail_task(task.run_id, "first", 0, "bad\x00byte \ud800")
    assert row is not None and row.error_message == "bad\\x00byte ?"


def test_map_tasks_get_their_element(client: PgflowSqlClient) -> None:
    client.register_worker(WORKER, "client_map", "test")
    run = client.start_flow("client_map", ["a", None, 3])
    tasks = sorted(_take(client, "client_map"), key=lambda t: t.task_index)
    assert [(t.task_index, t.input, t.flow_input) for t in tasks] == [(0, "a", None), (1, None, None), (2, 3, None)]
    for t in reversed(tasks):
        client.complete_task(t.run_id, t.step_slug, t.task_index, t.input)
    state = client.get_run(run.run_id)
    assert state is not None and state.run.output == {"each": ["a", None, 3]}


def test_start_flow_in_a_rolled_back_transaction_leaves_nothing(
    client: PgflowSqlClient, conn: psycopg.Connection[Any]
) -> None:
    rid = uuid.uuid4()
    with pytest.raises(RuntimeError, match="caller"), conn.transaction():
        run = client.start_flow("client_flow", {"x": 1}, rid, conn=conn)
        assert run.run_id == rid
        raise RuntimeError("the caller's own write failed")
    assert client.get_run(rid) is None
    assert conn.execute("select count(*) from pgflow.runs").fetchone() == (0,)
    assert client.read_messages("client_flow", 1, 10, max_poll_seconds=0) == []


def test_start_flow_in_a_committed_caller_transaction(client: PgflowSqlClient, db_dsn: str) -> None:
    with psycopg.connect(db_dsn) as tx:  # not autocommit: the caller commits
        run = client.start_flow("client_flow", {}, conn=tx)
        with psycopg.connect(db_dsn, autocommit=True) as other:
            assert PgflowSqlClient(other).get_run(run.run_id) is None  # not visible before commit
        tx.commit()
    assert client.get_run(run.run_id) is not None


def test_start_flow_errors(client: PgflowSqlClient) -> None:
    with pytest.raises(FlowNotFound, match="no_such_flow"):
        client.start_flow("no_such_flow", {})
    with pytest.raises(InvalidInput, match="root map steps but input is not an array"):
        client.start_flow("client_map", {"not": "an array"})
    with pytest.raises(InvalidInput, match="not JSON-serialisable"):
        client.start_flow("client_flow", {"when": object()})


def test_complete_task_rejects_bad_outputs_before_sql(client: PgflowSqlClient, conn: psycopg.Connection[Any]) -> None:
    small = PgflowSqlClient(conn, max_output_bytes=64)
    run = client.start_flow("client_flow", {})
    [task] = _take(client)
    with pytest.raises(InvalidOutput, match=r"output of step 'first' task 0 .*not JSON-serialisable"):
        client.complete_task(run.run_id, "first", 0, {"s": {1, 2}})
    with pytest.raises(InvalidOutput, match=r"step 'first' task 0 .*over the limit of 64 bytes"):
        small.complete_task(run.run_id, "first", 0, "x" * 100)
    with pytest.raises(InvalidOutput, match="NUL"):
        client.complete_task(run.run_id, "first", 0, "a\x00b")
    # Nothing reached the database: the task is still started and can complete normally.
    status = conn.execute(
        "select status from pgflow.step_tasks where run_id = %s and step_slug = 'first'", (task.run_id,)
    ).fetchone()
    assert status == ("started",)
    assert client.complete_task(run.run_id, "first", 0, "x" * 100) is not None


def test_complete_task_for_unknown_task_returns_none(client: PgflowSqlClient) -> None:
    assert client.complete_task(uuid.uuid4(), "first", 0, 1) is None


def test_start_tasks_with_unregistered_worker(client: PgflowSqlClient) -> None:
    client.start_flow("client_flow", {})
    msgs = client.read_messages("client_flow", 30, 10, max_poll_seconds=0)
    with pytest.raises(WorkerNotFound):
        client.start_tasks("client_flow", [m.msg_id for m in msgs], uuid.uuid4())


def test_read_with_poll_returns_messages(client: PgflowSqlClient) -> None:
    client.start_flow("client_flow", {})
    msgs = client.read_messages("client_flow", 30, 5, max_poll_seconds=1, poll_interval_ms=50)
    assert len(msgs) == 1 and msgs[0].read_ct == 1
    assert set(msgs[0].message) == {"flow_slug", "run_id", "step_slug", "task_index"}


def test_wait_for_run_wakes_on_notify(client: PgflowSqlClient, db_dsn: str) -> None:
    run = client.start_flow("client_flow", {})
    [task] = _take(client)
    ready = threading.Event()

    def finish() -> None:
        ready.wait(10)
        with psycopg.connect(db_dsn, autocommit=True) as other:
            c = PgflowSqlClient(other)
            c.complete_task(task.run_id, "first", 0, 1)
            [t2] = c.start_tasks(
                "client_flow", [m.msg_id for m in c.read_messages("client_flow", 30, 1, max_poll_seconds=0)], WORKER
            )
            c.complete_task(t2.run_id, "second", 0, 2)

    with psycopg.connect(db_dsn, autocommit=True) as waiter_conn:
        waiter = PgflowSqlClient(waiter_conn)
        t = threading.Thread(target=finish)
        t.start()
        ready.set()
        # A poll interval far beyond the timeout: only the NOTIFY can end this wait in time.
        state = waiter.wait_for_run(run.run_id, timeout=30, poll_interval=3600)
        t.join()
    assert state.run.status is RunStatus.COMPLETED and state.run.output == {"second": 2}


def test_wait_for_run_timeout_and_unknown(client: PgflowSqlClient) -> None:
    run = client.start_flow("client_flow", {})
    with pytest.raises(RunTimeout):
        client.wait_for_run(run.run_id, timeout=0.2, poll_interval=0.05)
    with pytest.raises(RunNotFound):
        client.wait_for_run(uuid.uuid4(), timeout=1)


def test_wait_for_run_inside_a_caller_transaction_polls(db_dsn: str, client: PgflowSqlClient) -> None:
    run = client.start_flow("client_flow", {})
    with psycopg.connect(db_dsn) as tx:  # not autocommit, in a transaction: no LISTEN possible
        tx.execute("select 1")
        with pytest.raises(RunTimeout):
            PgflowSqlClient(tx).wait_for_run(run.run_id, timeout=0.2, poll_interval=0.05)
        assert tx.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


def test_pool_source(client: PgflowSqlClient, db_dsn: str) -> None:
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        c = PgflowSqlClient(pool)
        run = c.start_flow("client_flow", {"p": 1})
        state = c.get_run(run.run_id)  # committed by the pool on return
        assert state is not None and state.run.input == {"p": 1}


def test_worker_bookkeeping(client: PgflowSqlClient, conn: psycopg.Connection[Any]) -> None:
    wid = uuid.uuid4()
    client.register_worker(wid, "client_flow", "fn")
    client.register_worker(wid, "client_flow", "fn")  # a restart reusing the id is fine
    assert client.heartbeat(wid) is False
    conn.execute("update pgflow.workers set deprecated_at = now() where worker_id = %s", (wid,))
    assert client.heartbeat(wid) is True
    client.mark_worker_stopped(wid)
    stopped = conn.execute("select stopped_at is not null from pgflow.workers where worker_id = %s", (wid,))
    assert stopped.fetchone() == (True,)
    with pytest.raises(WorkerNotFound):
        client.heartbeat(uuid.uuid4())


def test_requeue_stalled_tasks_is_exclusive(client: PgflowSqlClient, db_dsn: str) -> None:
    assert client.requeue_stalled_tasks() == 0
    with psycopg.connect(db_dsn) as holder:
        holder.execute("select pg_advisory_xact_lock(7412020)")
        assert client.requeue_stalled_tasks() is None
        holder.rollback()
    assert client.requeue_stalled_tasks() == 0


def test_ensure_flow_compiled_and_verify(client: PgflowSqlClient) -> None:
    flow = _flow()
    assert client.ensure_flow_compiled("client_flow", flow.shape()).status is CompileStatus.VERIFIED
    assert client.verify_flow_shape("client_flow", flow.shape()).status is CompileStatus.VERIFIED
    other = Flow("client_flow")

    @other.step("only")
    def only(x: Any) -> Any:
        return x

    result = client.verify_flow_shape("client_flow", other.shape())
    assert result.status is CompileStatus.MISMATCH and any("Step count differs" in d for d in result.differences)
    assert client.ensure_flow_compiled("client_flow", other.shape()).status is CompileStatus.MISMATCH
    with pytest.raises(FlowNotFound, match="not compiled"):
        client.verify_flow_shape("never_compiled", other.shape())
    assert client.ensure_flow_compiled("brand_new", other.shape()).status is CompileStatus.COMPILED


def test_schema_version(client: PgflowSqlClient) -> None:
    assert client.schema_version() == migrator.SCHEMA_VERSION


def test_next_visible_in(client: PgflowSqlClient) -> None:
    assert client.next_visible_in("client_flow") is None
    client.start_flow("client_flow", {})
    now = client.next_visible_in("client_flow")
    assert now is not None and now <= 0
    _take(client)
    later = client.next_visible_in("client_flow")
    assert later is not None and later > 30  # start_tasks hides the message for timeout + 2 s


@pytest.fixture
def async_ready(client: PgflowSqlClient) -> Iterator[None]:
    yield


async def test_async_client_round_trip(async_ready: None, db_dsn: str) -> None:
    async with AsyncConnectionPool(db_dsn, min_size=1, max_size=3, open=False) as pool:
        c = AsyncPgflowSqlClient(pool)
        run = await c.start_flow("client_flow", {"a": True})
        msgs = await c.read_messages("client_flow", 30, 10, max_poll_seconds=0)
        [task] = await c.start_tasks("client_flow", [m.msg_id for m in msgs], WORKER)
        assert task.flow_input == {"a": True}
        assert await c.get_flow_input(run.run_id) == {"a": True}
        await c.complete_task(task.run_id, "first", 0, 1)
        msgs = await c.read_messages("client_flow", 30, 10, max_poll_seconds=1, poll_interval_ms=50)
        [task2] = await c.start_tasks("client_flow", [m.msg_id for m in msgs], WORKER)
        with pytest.raises(InvalidOutput):
            await c.complete_task(task2.run_id, "second", 0, {1, 2})
        await c.fail_task(task2.run_id, "second", 0, "KeyError: 'x'")
        assert await c.heartbeat(WORKER) is False
        with pytest.raises(RunTimeout):
            await c.wait_for_run(run.run_id, timeout=0.2, poll_interval=0.05)
        run2 = await c.start_flow("client_flow", {"b": 2})
        [(task3, message3)] = await c.read_and_start_tasks("client_flow", WORKER, 30, 10)
        assert task3.run_id == run2.run_id and task3.attempts_count == 1 and message3.read_ct == 1
        assert await c.complete_tasks_count([c.completion(task3.run_id, "first", 0, "ok")]) == 1


async def test_async_wait_for_run_via_notify(async_ready: None, db_dsn: str) -> None:
    import asyncio

    async with (
        await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as a,
        await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as b,
    ):
        ca, cb = AsyncPgflowSqlClient(a), AsyncPgflowSqlClient(b)
        run = await ca.start_flow("client_flow", {})
        waiting = asyncio.create_task(cb.wait_for_run(run.run_id, timeout=30, poll_interval=3600))
        for step in ("first", "second"):
            msgs = await ca.read_messages("client_flow", 30, 1, max_poll_seconds=2, poll_interval_ms=20)
            [t] = await ca.start_tasks("client_flow", [m.msg_id for m in msgs], WORKER)
            await ca.complete_task(t.run_id, step, 0, step)
        state = await waiting
        assert state.run.status is RunStatus.COMPLETED and state.run.output == {"second": "second"}


def test_guarded_reports_only_touch_the_expected_attempt(
    client: PgflowSqlClient, conn: psycopg.Connection[Any]
) -> None:
    client.start_flow("client_flow", {})
    [task] = _take(client)
    assert task.attempts_count == 1
    row = client.fail_task(task.run_id, "first", 0, "E: attempt 1", expected_attempt=1)
    assert row is not None and row.status is TaskStatus.QUEUED
    conn.execute("update pgmq.q_client_flow set vt = clock_timestamp()")
    [again] = _take(client)
    assert again.attempts_count == 2
    # A replay of attempt 1's report (its acknowledgement was lost) must not hit attempt 2.
    assert client.fail_task(task.run_id, "first", 0, "E: attempt 1", expected_attempt=1) is None
    assert client.complete_task(task.run_id, "first", 0, "stale", expected_attempt=1) is None
    status = conn.execute("select status, attempts_count from pgflow.step_tasks where step_slug = 'first'").fetchone()
    assert status == ("started", 2)
    row = client.complete_task(task.run_id, "first", 0, "fresh", expected_attempt=2)
    assert row is not None and row.status is TaskStatus.COMPLETED and row.output == "fresh"
