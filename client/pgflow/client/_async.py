"""The async SQL client, written by hand; the sync one (``_sync.py``) is generated from it by
``scripts/async_to_sync.py`` (its docstring says what the rewrite does and which markers it reads:
``# ASYNC ONLY`` below). After an edit here, run it and commit both files; comments do not carry over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import AsyncRowFactory, DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from pgflow import queries as q
from pgflow.client._async_control import AsyncRunControl
from pgflow.client._async_io import execute_as
from pgflow.client._async_schedules import AsyncSchedules
from pgflow.client._async_workers import AsyncWorkers
from pgflow.client._base import (
    ClientSettings,
    Params,
    Query,
    R,
    next_visible_query,
    read_params,
    read_query,
    report_query,
)
from pgflow.client._values import (
    DEFAULT_MAX_ERROR_CHARS,
    DEFAULT_MAX_OUTPUT_BYTES,
    Completion,
    compile_result,
    complete_tasks_args,
    complete_tasks_params,
    encode_json,
    first,
    is_run_end,
    started_task_row,
    task_what,
    verify_result,
    with_attempts,
)
from pgflow.errors import PgflowError, RunNotFound, RunTimeout, map_sql_error
from pgflow.tracing import check_traceparent, current_traceparent
from pgflow.types import (
    CompileResult,
    QueueMessage,
    Run,
    RunWithStates,
    StepTask,
    TaskRow,
)


class AsyncPgflowSqlClient(AsyncRunControl, AsyncSchedules, AsyncWorkers):
    """pgflow's SQL API over a psycopg ``AsyncConnection`` or ``AsyncConnectionPool`` (with the
    run-control methods of :class:`~pgflow.client._async_control.AsyncRunControl` and the
    schedule methods of :class:`~pgflow.client._async_schedules.AsyncSchedules`, and the workers'
    bookkeeping and maintenance sweeps of :class:`~pgflow.client._async_workers.AsyncWorkers`)."""

    def __init__(
        self,
        source: psycopg.AsyncConnection[Any] | AsyncConnectionPool[Any],
        *,
        max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
        max_error_chars: int = DEFAULT_MAX_ERROR_CHARS,
    ) -> None:
        self._source = source
        self._settings = ClientSettings(max_output_bytes, max_error_chars)

    # -- plumbing --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _borrow(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if isinstance(self._source, AsyncConnectionPool):
            async with self._source.connection() as c:
                yield c
        else:
            yield self._source

    @contextlib.asynccontextmanager
    async def _transaction(
        self, conn: psycopg.AsyncConnection[Any] | None, **context: Any
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A transaction (a savepoint inside the caller's) on ``conn`` or a borrowed connection,
        for calls of several statements; psycopg errors are mapped with ``context``."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                c = conn if conn is not None else await stack.enter_async_context(self._borrow())
                async with c.transaction():
                    yield c
        except psycopg.Error as exc:
            raise map_sql_error(exc, **context) from exc

    async def _fetch(
        self, query: Query, params: Params | None, conn: psycopg.AsyncConnection[Any] | None, **context: Any
    ) -> list[DictRow]:
        return await self._fetch_as(dict_row, query, params, conn, **context)

    async def _fetch_as(
        self,
        rows: AsyncRowFactory[R],
        query: Query,
        params: Params | None,
        conn: psycopg.AsyncConnection[Any] | None,
        **context: Any,
    ) -> list[R]:
        """One statement: on ``conn`` as it is, or on a pooled connection (committed when
        returned), or on the client's connection (as is in autocommit mode, otherwise in a
        transaction or savepoint of its own). psycopg errors are mapped with ``context``."""
        try:
            if conn is not None:
                return await execute_as(conn, query, params, rows)
            async with self._borrow() as c:
                if c.autocommit or isinstance(self._source, AsyncConnectionPool):
                    return await execute_as(c, query, params, rows)
                async with c.transaction():
                    return await execute_as(c, query, params, rows)
        except psycopg.Error as exc:
            raise map_sql_error(exc, **context) from exc

    # -- worker API ------------------------------------------------------------------------

    async def read_messages(
        self,
        queue_name: str,
        vt: int,
        qty: int,
        *,
        max_poll_seconds: float = 5,
        poll_interval_ms: int = 100,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[QueueMessage]:
        """``pgmq.read_with_poll`` (or ``pgmq.read`` when ``max_poll_seconds`` is 0)."""
        params = read_params(queue_name, vt, qty, max_poll_seconds, poll_interval_ms)
        rows = await self._fetch(read_query(max_poll_seconds), params, conn, flow_slug=queue_name)
        return [QueueMessage.from_row(r) for r in rows]

    async def read_and_start_tasks(
        self,
        queue_name: str,
        worker_id: uuid.UUID | str,
        vt: int,
        qty: int,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[tuple[StepTask, QueueMessage]]:
        """``pgflow.read_and_start_tasks``: ``pgmq.read`` + ``start_tasks`` in one call (pgflow-py's
        own function, not pgflow's): the started tasks, each with its message."""
        params = (queue_name, worker_id, int(vt), int(qty))
        return await self._fetch_as(
            started_task_row, q.READ_AND_START_TASKS, params, conn, flow_slug=queue_name, worker_id=str(worker_id)
        )

    async def start_tasks(
        self,
        flow_slug: str,
        msg_ids: Sequence[int],
        worker_id: uuid.UUID | str,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[StepTask]:
        """``pgflow.start_tasks`` for messages read from the flow's queue: the started tasks, each
        with the attempt it is on (read in the same transaction)."""
        if not msg_ids:
            return []
        params = {"flow_slug": flow_slug, "msg_ids": list(msg_ids), "worker_id": worker_id}
        async with self._transaction(conn, flow_slug=flow_slug, worker_id=str(worker_id)) as c:
            rows = await execute_as(c, q.START_TASKS, params, dict_row)
            attempts = await execute_as(c, q.STARTED_ATTEMPTS, params, dict_row) if rows else []
        return with_attempts(rows, attempts)

    async def complete_task(
        self,
        run_id: uuid.UUID | str,
        step_slug: str,
        task_index: int,
        output: Any,
        *,
        expected_attempt: int | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> TaskRow | None:
        """Store a task's output. Returns the task row (None when no such task exists, or, with
        ``expected_attempt``, when the task is no longer started on that attempt)."""
        params = self._settings.complete_params(run_id, step_slug, task_index, output)
        query, params = report_query(q.COMPLETE_TASK, q.GUARDED_COMPLETE_TASK, params, expected_attempt)
        row = first(await self._fetch(query, params, conn, run_id=str(run_id), step_slug=step_slug))
        return None if row is None else TaskRow.from_row(row)

    def completion(self, run_id: uuid.UUID | str, step_slug: str, task_index: int, output: Any) -> Completion:
        """Check and serialise a result for :meth:`complete_tasks` (raises InvalidOutput)."""
        limit = self._settings.max_output_bytes
        text = encode_json(output, what=lambda: task_what(step_slug, task_index, run_id), limit=limit)
        return Completion(run_id, step_slug, task_index, text)

    async def complete_tasks(
        self, completions: Sequence[Completion], *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> list[TaskRow]:
        """``pgflow.complete_tasks``: several results in one call and one transaction, with the
        effect of complete_task for each (not part of pgflow's API). Returns the tasks' rows."""
        if not completions:
            return []
        rows = await self._fetch(q.COMPLETE_TASKS, complete_tasks_params(completions), conn)
        return [TaskRow.from_row(r) for r in rows]

    async def complete_tasks_count(
        self, completions: Sequence[Completion], *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> int:
        """``pgflow.complete_tasks_count``: :meth:`complete_tasks` without reading the rows back;
        returns how many distinct known tasks the completions name (the worker's path)."""
        if not completions:
            return 0
        rows = await self._fetch(q.COMPLETE_TASKS_COUNT, complete_tasks_args(completions), conn)
        return int(rows[0]["completed_count"])

    async def complete_tasks_and_claim(
        self,
        completions: Sequence[Completion],
        worker_id: uuid.UUID | str,
        qty: int,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[tuple[StepTask, QueueMessage]]:
        """``pgflow.complete_tasks_and_claim``: :meth:`complete_tasks_count`'s batch, and up to
        ``qty`` of the tasks it makes ready in the flow of ``worker_id`` started for that worker
        in the same transaction (returned as :meth:`read_and_start_tasks` returns tasks; the
        worker's path)."""
        if not completions:
            return []
        params = (*complete_tasks_args(completions), worker_id, int(qty))
        query = q.COMPLETE_TASKS_AND_CLAIM
        return await self._fetch_as(started_task_row, query, params, conn, worker_id=str(worker_id))

    async def complete_tasks_claim_and_read(
        self,
        completions: Sequence[Completion],
        worker_id: uuid.UUID | str,
        qty: int,
        queue_name: str,
        vt: int,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[tuple[StepTask, QueueMessage]]:
        """:meth:`complete_tasks_and_claim`, then, in the same call and transaction,
        :meth:`read_and_start_tasks` of ``queue_name`` (the flow of ``worker_id``) for the part
        of ``qty`` the claim left: a completion batch that also takes the next queued tasks (the
        worker's path when it serves one flow). Claimed tasks come first."""
        if not completions:
            return []
        params = (*complete_tasks_args(completions), worker_id, int(qty), queue_name, worker_id, int(vt), int(qty))
        query = q.COMPLETE_TASKS_CLAIM_AND_READ
        return await self._fetch_as(
            started_task_row, query, params, conn, flow_slug=queue_name, worker_id=str(worker_id)
        )

    async def fail_task(
        self,
        run_id: uuid.UUID | str,
        step_slug: str,
        task_index: int,
        error_message: str,
        *,
        expected_attempt: int | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> TaskRow | None:
        """Report a task's failure (the message sanitised and cut to ``max_error_chars``): it is
        retried or fails its step and run. Returns the task row, None as for complete_task."""
        params = self._settings.fail_params(run_id, step_slug, task_index, error_message)
        query, params = report_query(q.FAIL_TASK, q.GUARDED_FAIL_TASK, params, expected_attempt)
        row = first(await self._fetch(query, params, conn, run_id=str(run_id), step_slug=step_slug))
        return None if row is None else TaskRow.from_row(row)

    # -- runs ------------------------------------------------------------------------------

    async def start_flow(
        self,
        flow_slug: str,
        input: Any,
        run_id: uuid.UUID | str | None = None,
        *,
        traceparent: str | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> Run:
        """``pgflow.start_flow``: start a run of the flow with this input (JSON, checked first);
        ``run_id`` chooses the run's id. Returns the run as started.

        Trace context: with OpenTelemetry installed and a span current in the caller, or with
        ``traceparent`` (a W3C header value), the run's ``traceparent`` is stored in
        ``pgflow.run_trace_contexts`` by the same statement, and the worker's task spans take it
        as their parent."""
        params = self._settings.start_flow_params(flow_slug, input, run_id)
        traceparent = check_traceparent(traceparent) if traceparent is not None else current_traceparent()
        query = q.START_FLOW if traceparent is None else q.START_FLOW_TRACED
        if traceparent is not None:
            params["traceparent"] = traceparent
        row = first(await self._fetch(query, params, conn, flow_slug=flow_slug))
        if row is None:
            raise PgflowError(f"start_flow returned no run for flow {flow_slug!r}")
        return Run.from_row(row)

    async def get_run(
        self, run_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> RunWithStates | None:
        """``pgflow.get_run_with_states``: the run and its step states, None when there is no such run."""
        row = first(await self._fetch(q.GET_RUN, {"run_id": run_id}, conn, run_id=str(run_id)))
        return None if row is None or row["result"] is None else RunWithStates.from_json(row["result"])

    async def run_traceparent(
        self, run_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> str | None:
        """The W3C ``traceparent`` stored for the run by :meth:`start_flow`, None when there is none."""
        row = first(await self._fetch(q.RUN_TRACEPARENT, {"run_id": run_id}, conn, run_id=str(run_id)))
        return None if row is None else str(row["traceparent"])

    async def get_flow_input(self, run_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None) -> Any:
        """The run's input (RunNotFound when there is no such run)."""
        row = first(await self._fetch(q.FLOW_INPUT, {"run_id": run_id}, conn, run_id=str(run_id)))
        if row is None:
            raise RunNotFound(f"run {run_id} not found")
        return row["input"]

    async def wait_for_run(
        self, run_id: uuid.UUID | str, timeout: float = 60.0, *, poll_interval: float = 1.0
    ) -> RunWithStates:
        """Wait until the run is completed, failed or cancelled; return its final state.

        LISTENs on channel ``pgflow`` for the run's ``run:completed``/``run:failed``/``run:cancelled`` event and
        re-reads the run every ``poll_interval`` seconds as a fallback (events can be missed, and
        a connection inside an open transaction cannot receive them). Raises RunNotFound,
        RunTimeout."""
        rid = str(run_id)
        deadline = time.monotonic() + timeout
        async with self._borrow() as c, _listening(c) as listening:
            while True:
                state = await self.get_run(rid, conn=c)
                if state is None:
                    raise RunNotFound(f"run {rid} not found")
                if state.run.status.is_terminal:
                    return state
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RunTimeout(f"run {rid} still {state.run.status} after {timeout} s")
                wait = min(remaining, poll_interval)
                if listening:
                    async for n in c.notifies(timeout=wait):
                        if n.channel == q.EVENTS_CHANNEL and is_run_end(n.payload, rid):
                            break
                else:
                    await asyncio.sleep(wait)

    # -- workers and flows -----------------------------------------------------------------

    async def ensure_flow_compiled(
        self,
        flow_slug: str,
        shape: Mapping[str, Any],
        allow_data_loss: bool = False,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> CompileResult:
        """``pgflow.ensure_flow_compiled``: create the flow from its shape when it is new, verify it
        otherwise; when it differs, recreate it (deleting its runs) on a local database or with
        ``allow_data_loss``, else change nothing and return status ``mismatch``."""
        params = {"flow_slug": flow_slug, "shape": json.dumps(shape), "allow_data_loss": allow_data_loss}
        rows = await self._fetch(q.ENSURE_FLOW_COMPILED, params, conn, flow_slug=flow_slug)
        return compile_result(flow_slug, first(rows))

    async def verify_flow_shape(
        self, flow_slug: str, shape: Mapping[str, Any], *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> CompileResult:
        """Compare a flow's shape with the database without changing anything: status
        ``verified`` or ``mismatch``; FlowNotFound when the flow is not compiled."""
        params = {"flow_slug": flow_slug, "shape": json.dumps(shape)}
        rows = await self._fetch(q.VERIFY_FLOW_SHAPE, params, conn, flow_slug=flow_slug)
        return verify_result(flow_slug, first(rows))

    async def schema_version(self, *, conn: psycopg.AsyncConnection[Any] | None = None) -> int | None:
        """``pgflow.schema_version()``, or None when the database has no pgflow schema."""
        present = first(await self._fetch(q.HAS_SCHEMA, None, conn))
        if not present or not present["present"]:
            return None
        row = first(await self._fetch(q.SCHEMA_VERSION, None, conn))
        return None if row is None or row["version"] is None else int(row["version"])

    async def next_visible_in(
        self, queue_name: str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> float | None:
        """Seconds until the queue's next message becomes visible (<= 0: one is visible now;
        None: the queue is empty)."""
        row = first(await self._fetch(next_visible_query(queue_name), None, conn, flow_slug=queue_name))
        return None if row is None or row["seconds"] is None else float(row["seconds"])



@contextlib.asynccontextmanager
async def _listening(c: psycopg.AsyncConnection[Any]) -> AsyncIterator[bool]:
    """LISTEN on the events channel for the block when the connection can receive notifications
    (it is not inside a caller's transaction), then UNLISTEN and restore its autocommit mode.
    Yields whether it listens."""
    restore = c.autocommit
    if c.info.transaction_status != TransactionStatus.IDLE:
        yield False
        return
    await c.set_autocommit(True)  # notifications are only delivered between transactions
    await c.execute(q.LISTEN_EVENTS)
    try:
        yield True
    finally:
        if not c.closed:
            with contextlib.suppress(psycopg.Error):
                await c.execute(q.UNLISTEN_EVENTS)
                await c.set_autocommit(restore)


async def listen_for_tasks(conn: psycopg.AsyncConnection[Any]) -> None:  # ASYNC ONLY: the worker's wake-up
    """LISTEN on the worker wake-up channel (the connection must be in autocommit mode)."""
    try:
        await conn.execute(q.LISTEN_TASKS)
    except psycopg.Error as exc:
        raise map_sql_error(exc) from exc
