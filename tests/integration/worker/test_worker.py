"""The worker in this process against a real database: success, retries, exhaustion, maps,
context, compile modes, deprecation, stop from another thread, killed connections."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import psycopg
import pytest

from pgflow import migrator
from pgflow.client import AsyncPgflowSqlClient
from pgflow.dsl import Flow
from pgflow.embedded import EmbeddedPostgres
from pgflow.errors import FlowNotFound, FlowShapeMismatch, SchemaVersionError
from pgflow.types import Context, RunStatus, RunWithStates, StepStatus
from pgflow.worker import State, Worker
from pgflow.worker.completer import BatchCompleter, InlineCompleter, Outcome
from pgflow.worker.connections import HotConnection
from pgflow.worker.slots import Slots
from tests.support.waiting import await_until
from tests.support.worker import FAST, running


async def start_and_wait(dsn: str, flow: str, input: Any, timeout: float = 30.0) -> RunWithStates:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        run = await client.start_flow(flow, input)
        return await client.wait_for_run(run.run_id, timeout=timeout)


def pipeline_flow() -> Flow:
    f = Flow("w_pipeline")

    @f.step("fetch")
    async def fetch(inp: dict[str, Any]) -> dict[str, Any]:
        return {"n": inp["n"]}

    @f.step("items", depends_on=["fetch"])
    def items(deps: dict[str, Any]) -> list[int]:
        assert threading.current_thread().name.startswith("pgflow-worker"), "sync handlers run in the pool"
        return list(range(deps["fetch"]["n"]))

    @f.map("square", array="items")
    async def square(x: int) -> int:
        return x * x

    @f.step("total", depends_on=["square"])
    async def total(deps: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"sum": sum(deps["square"]), "flow_input": await ctx.flow_input(), "step": ctx.step_slug}

    return f


async def test_pipeline_with_map_completes(db_dsn: str) -> None:
    async with running(Worker(pipeline_flow(), db_dsn, **FAST)):
        state = await start_and_wait(db_dsn, "w_pipeline", {"n": 4})
    assert state.run.status is RunStatus.COMPLETED
    assert state.run.output == {"total": {"sum": 0 + 1 + 4 + 9, "flow_input": {"n": 4}, "step": "total"}}
    assert state.step("square").output == [0, 1, 4, 9]


async def test_root_map_and_empty_map(db_dsn: str) -> None:
    f = Flow("w_root_map")

    @f.map("double")
    def double(x: int) -> int:
        return 2 * x

    async with running(Worker(f, db_dsn, **FAST)):
        state = await start_and_wait(db_dsn, "w_root_map", [1, 2, 3])
        empty = await start_and_wait(db_dsn, "w_root_map", [])
    assert state.run.output == {"double": [2, 4, 6]}
    assert empty.run.status is RunStatus.COMPLETED and empty.run.output == {"double": []}


async def test_retry_then_success(db_dsn: str) -> None:
    f = Flow("w_retry", max_attempts=3, base_delay=1)
    attempts: list[int] = []

    @f.step("flaky")
    def flaky(inp: Any, ctx: Context) -> str:
        attempts.append(ctx.attempt)
        if ctx.attempt < 2:
            raise ConnectionError("transient upstream failure")
        return "ok"

    async with running(Worker(f, db_dsn, **FAST)):
        state = await start_and_wait(db_dsn, "w_retry", {})
    assert state.run.status is RunStatus.COMPLETED and state.run.output == {"flaky": "ok"}
    assert attempts == [1, 2]
    with psycopg.connect(db_dsn) as conn:
        row = conn.execute("select status, attempts_count, error_message from pgflow.step_tasks").fetchone()
    assert row == ("completed", 2, "ConnectionError: transient upstream failure")


async def test_exhausted_retries_fail_the_run(db_dsn: str) -> None:
    f = Flow("w_exhaust", max_attempts=2, base_delay=1)

    @f.step("boom")
    async def boom(inp: Any) -> None:
        raise ValueError("bad input 42")

    async with running(Worker(f, db_dsn, **FAST)):
        state = await start_and_wait(db_dsn, "w_exhaust", {})
    assert state.run.status is RunStatus.FAILED
    step = state.step("boom")
    assert step.status is StepStatus.FAILED and step.error_message == "ValueError: bad input 42"
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("select status, attempts_count from pgflow.step_tasks").fetchone() == ("failed", 2)


async def test_non_json_output_fails_the_task(db_dsn: str) -> None:
    f = Flow("w_badout", max_attempts=1)

    @f.step("weird")
    def weird(inp: Any) -> object:
        return object()

    async with running(Worker(f, db_dsn, **FAST)):
        state = await start_and_wait(db_dsn, "w_badout", {})
    assert state.run.status is RunStatus.FAILED
    assert "not JSON-serialisable" in (state.step("weird").error_message or "")


async def test_oversized_output_fails_the_task_naming_it(db_dsn: str) -> None:
    f = Flow("w_big", max_attempts=1)

    @f.step("big")
    def big(inp: Any) -> str:
        return "x" * 1000

    async with running(Worker(f, db_dsn, max_output_bytes=100, **FAST)):
        state = await start_and_wait(db_dsn, "w_big", {})
    msg = state.step("big").error_message or ""
    assert state.run.status is RunStatus.FAILED and msg.startswith("InvalidOutput: output of step 'big' task 0")


async def test_flow_input_is_loaded_for_map_tasks(db_dsn: str) -> None:
    f = Flow("w_ctx")

    @f.map("each")
    async def each(x: int, ctx: Context) -> list[Any]:
        return [x, await ctx.flow_input(), ctx.task_index]

    @f.step("sync_reader", depends_on=["each"])
    def sync_reader(deps: Any, ctx: Context) -> Any:
        return ctx.flow_input_sync()

    async with running(Worker(f, db_dsn, **FAST)):
        state = await start_and_wait(db_dsn, "w_ctx", [5, 6])
    assert state.step("each").output == [[5, [5, 6], 0], [6, [5, 6], 1]]
    assert state.run.output == {"sync_reader": [5, 6]}


async def test_concurrency_is_bounded(db_dsn: str) -> None:
    f = Flow("w_bound")
    active = 0
    peak = 0

    @f.map("work")
    async def work(x: int) -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return x

    async with running(Worker(f, db_dsn, concurrency=3, batch_size=10, **FAST)):
        state = await start_and_wait(db_dsn, "w_bound", list(range(30)))
    assert state.run.status is RunStatus.COMPLETED and peak <= 3


async def test_polling_without_notify(db_dsn: str) -> None:
    async with running(Worker(pipeline_flow(), db_dsn, use_notify=False, **FAST)):
        state = await start_and_wait(db_dsn, "w_pipeline", {"n": 2})
    assert state.run.status is RunStatus.COMPLETED


async def test_compile_modes(db_dsn: str) -> None:
    f = pipeline_flow()
    with pytest.raises(FlowNotFound, match="not compiled"):
        await Worker(f, db_dsn, compile="verify", **FAST).run()
    async with running(Worker(f, db_dsn, compile="auto", **FAST)):
        pass
    await _stopped_quickly(Worker(f, db_dsn, compile="verify", **FAST))

    changed = Flow("w_pipeline")

    @changed.step("fetch")
    def fetch(x: Any) -> Any:
        return x

    for mode in ("auto", "verify"):
        with pytest.raises(FlowShapeMismatch, match="Step count differs: 1 vs 4") as info:
            await Worker(changed, db_dsn, compile=mode, **FAST).run()  # type: ignore[arg-type]
        assert info.value.flow_slug == "w_pipeline"
    await _stopped_quickly(Worker(changed, db_dsn, compile="off", **FAST))
    async with running(Worker(changed, db_dsn, allow_data_loss=True, **FAST)):
        state = await start_and_wait(db_dsn, "w_pipeline", {"v": 1})
    assert state.run.output == {"fetch": {"v": 1}}


async def _stopped_quickly(worker: Worker) -> None:
    async with running(worker):
        pass


async def test_schema_version_is_checked(empty_db_dsn: str) -> None:
    with pytest.raises(SchemaVersionError, match="pgflow migrate"):
        await Worker(pipeline_flow(), empty_db_dsn, **FAST).run()


async def test_registers_heartbeats_and_marks_stopped(db_dsn: str) -> None:
    worker = Worker(pipeline_flow(), db_dsn, function_name="tests", **FAST)
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:

        async def beats() -> bool:
            cur = await conn.execute(
                "select last_heartbeat_at > started_at + interval '0.1 s' from pgflow.workers where worker_id = %s",
                (worker.worker_id,),
            )
            row = await cur.fetchone()
            return bool(row and row[0])

        async with running(worker):
            await await_until("a heartbeat", beats)
        cur = await conn.execute(
            "select queue_name, function_name, stopped_at is not null from pgflow.workers where worker_id = %s",
            (worker.worker_id,),
        )
        assert await cur.fetchone() == ("w_pipeline", "tests", True)


async def test_deprecated_worker_stops_by_itself(db_dsn: str) -> None:
    worker = Worker(pipeline_flow(), db_dsn, **FAST)
    task = asyncio.create_task(worker.run())
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:

        async def registered() -> bool:
            cur = await conn.execute("select 1 from pgflow.workers where worker_id = %s", (worker.worker_id,))
            return await cur.fetchone() is not None

        await await_until("registration", registered)
        await conn.execute("update pgflow.workers set deprecated_at = now() where worker_id = %s", (worker.worker_id,))
        await asyncio.wait_for(task, 30)  # returns without stop()


async def test_stop_from_another_thread_drains_in_flight_task(db_dsn: str) -> None:
    f = Flow("w_drain")
    started = threading.Event()
    release = threading.Event()

    @f.step("slow")
    def slow(inp: Any, ctx: Context) -> str:
        started.set()
        release.wait(30)
        return "finished" if ctx.shutdown.is_set() else "no shutdown seen"

    worker = Worker(f, db_dsn, **FAST)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.started.wait(), 30)
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        run = await client.start_flow("w_drain", {})
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        threading.Thread(target=worker.stop).start()
        await await_until("drain to start", lambda: worker.state is State.DRAINING)
        assert not task.done()
        release.set()
        await asyncio.wait_for(task, 30)
        state = await client.get_run(run.run_id)
    assert state is not None and state.run.output == {"slow": "finished"}


async def test_stop_before_run_returns_at_once(db_dsn: str) -> None:
    worker = Worker(pipeline_flow(), db_dsn, **FAST)
    worker.stop()
    await asyncio.wait_for(worker.run(), 10)


async def test_survives_terminated_connections(db_dsn: str) -> None:
    worker = Worker(pipeline_flow(), db_dsn, **FAST)
    async with running(worker) as task:
        first = await start_and_wait(db_dsn, "w_pipeline", {"n": 2})
        assert first.run.status is RunStatus.COMPLETED
        with psycopg.connect(db_dsn, autocommit=True) as admin:
            killed = admin.execute(
                "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()"
            ).fetchone()
        assert killed is not None and killed[0] >= 2  # the pool and the LISTEN connection
        second = await start_and_wait(db_dsn, "w_pipeline", {"n": 3})
        assert second.run.status is RunStatus.COMPLETED and not task.done()


async def test_own_connection_is_kept_while_idle_and_replaced_when_killed(db_dsn: str) -> None:
    """The read-and-start call and the completion batches share one connection of the worker's:
    after an idle spell it is tested and kept (no new backend per poll), and once killed the
    next call opens another one."""

    def own_pid(worker: Worker) -> int:
        pid = worker.own_connection_pid  # the connection under test
        assert pid is not None
        return pid

    # Every pause counts as an idle spell: each call on the connection is preceded by its test.
    worker = Worker(pipeline_flow(), db_dsn, check_idle_after=0.0, **FAST)
    async with running(worker) as task:
        assert (await start_and_wait(db_dsn, "w_pipeline", {"n": 2})).run.status is RunStatus.COMPLETED
        first = own_pid(worker)
        assert (await start_and_wait(db_dsn, "w_pipeline", {"n": 2})).run.status is RunStatus.COMPLETED
        assert own_pid(worker) == first, "an idle spell must not open a new connection"

        with psycopg.connect(db_dsn, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (first,))
        third = await start_and_wait(db_dsn, "w_pipeline", {"n": 3})
        assert third.run.status is RunStatus.COMPLETED and not task.done()
        assert own_pid(worker) != first, "the killed connection is replaced"


async def test_listen_is_dropped_while_busy_and_back_when_idle(db_dsn: str) -> None:
    """LISTEN only while a poller waits for work: with every slot busy the worker drops it (its
    backend is no longer woken by each NOTIFY in the database, nor the worker by each wake-up),
    and a poller going idle asks it back before it waits. Polls are 60 s apart here, so only the
    wake-up can pick the last run up in time."""
    f = Flow("w_listen")
    gate = asyncio.Event()

    @f.step("work")
    async def work(inp: dict[str, Any]) -> int:
        if inp.get("block"):
            await gate.wait()
        return 1

    worker = Worker(
        f, db_dsn, concurrency=1, batch_size=1, heartbeat_interval=0.2, max_poll_seconds=60,
        poll_interval_ms=60_000, shutdown_grace=10.0,
    )
    async with running(worker), await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        await await_until("LISTEN while idle", lambda: worker.listening)
        blocked = await client.start_flow("w_listen", {"block": True})
        await await_until("LISTEN dropped while busy", lambda: not worker.listening, timeout=10)
        waiting = await client.start_flow("w_listen", {})  # sent while nobody listens
        gate.set()
        for run in (blocked, waiting):
            assert (await client.wait_for_run(run.run_id, timeout=10)).run.status is RunStatus.COMPLETED
        await await_until("LISTEN back once idle", lambda: worker.listening, timeout=10)
        late = await client.start_flow("w_listen", {})
        assert (await client.wait_for_run(late.run_id, timeout=10)).run.status is RunStatus.COMPLETED


async def _archived_read_counts(dsn: str, flow: str, run_id: Any) -> dict[str, list[int]]:
    """read_ct of each archived message of the run, by step (a claimed task's message is never read)."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            f"select a.message ->> 'step_slug', a.read_ct from pgmq.a_{flow} as a"
            " where a.message ->> 'run_id' = %s order by a.msg_id",
            (str(run_id),),
        )
        out: dict[str, list[int]] = {}
        for step, read_ct in await cur.fetchall():
            out.setdefault(step, []).append(read_ct)
        return out


@pytest.mark.parametrize("claim", [True, False])
async def test_completions_claim_the_tasks_they_make_ready(db_dsn: str, claim: bool) -> None:
    """A chain's next step and a map's elements are taken by the worker whose result made them
    ready (their messages are never read from the queue), within its concurrency, and every slot
    comes back; with claim_next_tasks=False every task goes through the queue."""
    slug = f"w_claim_{int(claim)}"
    f = Flow(slug)
    active = 0
    peak = 0
    gate = asyncio.Event()  # holds the map's tasks until both slots are seen busy

    @f.step("first")
    async def first(inp: Any) -> list[int]:
        return list(range(6))

    @f.map("each", array="first")
    async def each(x: int) -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await gate.wait()
        active -= 1
        return x * 10

    @f.step("last", depends_on=["each"])
    async def last(deps: dict[str, Any]) -> int:
        return sum(deps["each"])

    worker = Worker(f, db_dsn, concurrency=2, batch_size=2, claim_next_tasks=claim, **FAST)
    async with running(worker), await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        run = await client.start_flow(slug, {})
        await await_until("both slots running map tasks", lambda: active == 2, timeout=10)
        gate.set()
        state = await client.wait_for_run(run.run_id, timeout=30)
    assert state.run.status is RunStatus.COMPLETED and state.run.output == {"last": 150}
    assert peak == 2
    assert worker.free_slots == 2, "a slot handed to a claimed task is given back once, not twice"
    reads = await _archived_read_counts(db_dsn, slug, state.run.run_id)
    assert reads["first"] == [1] and len(reads["each"]) == 6
    if claim:
        # the root step's result claims an element (into the slot it frees; the other slot's
        # poller reads the rest), and the result that finishes the map claims the last step
        assert reads["each"].count(0) >= 1 and reads["last"] == [0]
    else:
        assert set(reads["each"]) == {1} and reads["last"] == [1]


async def test_a_batch_of_two_flows_claims_for_the_flow_most_results_belong_to(db_dsn: str) -> None:
    """A completion batch mixing flows claims in its main flow (a worker id serves one queue):
    those tasks take submitters' slots whatever their flow; the other flow's next task stays
    queued and visible for a read."""
    flows = {slug: uuid.uuid4() for slug in ("w_mix_a", "w_mix_b")}
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        sql = AsyncPgflowSqlClient(conn)
        for slug, wid in flows.items():
            f = Flow(slug)

            @f.step("first")
            def first(inp: Any) -> Any:
                return inp

            @f.step("second", depends_on=["first"])
            def second(deps: Any) -> Any:
                return deps

            for stmt in f.compile():
                await conn.execute(stmt.encode())
            await sql.register_worker(wid, slug, "test")
        for slug, n in (("w_mix_a", 2), ("w_mix_b", 1)):
            for i in range(n):
                await sql.start_flow(slug, {"i": i})
        started = [task for slug, wid in flows.items() for task, _ in await sql.read_and_start_tasks(slug, wid, 30, 10)]
        assert sorted(t.flow_slug for t in started) == ["w_mix_a", "w_mix_a", "w_mix_b"]
        started.sort(key=lambda t: t.flow_slug != "w_mix_b")  # the minority flow's result first
        got: list[tuple[str, list[Any]]] = []
        hot = HotConnection(db_dsn, check_idle_after=1.0)
        batcher = BatchCompleter(
            sql,
            hot,
            InlineCompleter(sql),
            may_claim=lambda slug: flows[slug],
            on_claimed=lambda slug, claimed: got.append((slug, claimed)),
        )
        slots = Slots(3)
        lease = await slots.reserve(3)
        sender = asyncio.create_task(batcher.run())
        try:
            # submitted before the sender wakes: one batch
            completions = [sql.completion(t.run_id, t.step_slug, t.task_index, {"done": t.flow_slug}) for t in started]
            outcomes = [batcher.submit(c, t.flow_slug, lease.take()) for c, t in zip(completions, started, strict=True)]
            results = await asyncio.wait_for(asyncio.gather(*outcomes), 30)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await hot.close()
        [(slug, claimed)] = got
        assert slug == "w_mix_a"
        assert (
            sorted((t.flow_slug, t.step_slug, t.attempts_count) for t, _, _ in claimed)
            == [("w_mix_a", "second", 1)] * 2
        )
        assert results == [Outcome.HANDED_OVER, Outcome.HANDED_OVER, Outcome.RECORDED]
        for _, _, slot in claimed:
            slot.release()
        assert slots.free == 2, "the claimed tasks hold the slots handed over; the recorded result's is still held"
        assert await sql.read_and_start_tasks("w_mix_a", flows["w_mix_a"], 30, 10) == []  # claimed: hidden
        [(other, message)] = await sql.read_and_start_tasks("w_mix_b", flows["w_mix_b"], 30, 10)
        assert (other.step_slug, other.input, message.read_ct) == ("second", {"first": {"done": "w_mix_b"}}, 1)


async def test_worker_ids_per_flow(db_dsn: str) -> None:
    f2 = Flow("w_second")

    @f2.step("s")
    def s(x: Any) -> Any:
        return x

    wid = uuid.uuid4()
    worker = Worker([pipeline_flow(), f2], db_dsn, worker_id=wid, **FAST)
    assert worker.worker_ids == {"w_pipeline": wid, "w_second": uuid.uuid5(wid, "w_second")}
    async with running(worker):
        a = await start_and_wait(db_dsn, "w_second", {"k": 1})
        b = await start_and_wait(db_dsn, "w_pipeline", {"n": 1})
    assert a.run.output == {"s": {"k": 1}} and b.run.status is RunStatus.COMPLETED


async def test_survives_a_server_restart(db_dsn: str, pg_server: Any) -> None:
    server, dsn, own = pg_server.embedded, db_dsn, None
    if server is None:  # PGFLOW_TEST_DSN points at a server we must not restart: use a private one
        own = server = EmbeddedPostgres().start()
        dsn = own.dsn
        migrator.migrate(dsn)
    try:
        worker = Worker(pipeline_flow(), dsn, **FAST)
        async with running(worker) as task:
            assert (await start_and_wait(dsn, "w_pipeline", {"n": 1})).run.status is RunStatus.COMPLETED
            await asyncio.get_running_loop().run_in_executor(None, server.restart)
            second = await start_and_wait(dsn, "w_pipeline", {"n": 2})
            assert second.run.status is RunStatus.COMPLETED and not task.done()
    finally:
        if own is not None:
            own.stop()


async def test_task_outliving_the_grace_period_is_abandoned_unreported(db_dsn: str) -> None:
    f = Flow("w_stuck")
    entered = asyncio.Event()

    @f.step("forever")
    async def forever(inp: Any) -> None:
        entered.set()
        await asyncio.Event().wait()  # ignores ctx.shutdown

    worker = Worker(f, db_dsn, **{**FAST, "shutdown_grace": 0.2})
    async with running(worker):
        async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
            await AsyncPgflowSqlClient(conn).start_flow("w_stuck", {})
        await asyncio.wait_for(entered.wait(), 30)
    assert worker.stats["abandoned"] == 1
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("select status, attempts_count from pgflow.step_tasks").fetchone() == ("started", 1)


async def test_cancelling_run_cleans_up_and_propagates(db_dsn: str) -> None:
    worker = Worker(pipeline_flow(), db_dsn, **FAST)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with psycopg.connect(db_dsn) as conn:
        row = conn.execute(
            "select stopped_at is not null from pgflow.workers where worker_id = %s", (worker.worker_id,)
        )
        assert row.fetchone() == (True,)
