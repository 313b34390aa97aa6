"""``run_to_completion``: a flow's run driven to its end in the caller's process, through the real
SQL (``start_flow``, ``read_and_start_tasks``, ``complete_task`` / ``fail_task``), one task at a
time, handlers replaceable per call.

What differs from a worker, on purpose, for tests: tasks run one after the other in queue order
(deterministic); start delays and retry back-off are skipped (when nothing is visible, the run's
queued messages are made visible at once); a handler's exception is kept in the result
(:class:`~pgflow.testing.result.HandlerError`) besides being reported with ``fail_task`` as the
worker reports it. A task of another run of the same flow that the read hands out is run too
(rather than left started), so concurrent runs in one test database do not stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgflow import queries as q
from pgflow.client import AsyncPgflowSqlClient
from pgflow.dsl import Flow, StepDef, _check_handler_signature
from pgflow.errors import FlowShapeMismatch, InvalidOutput, PgflowError, RunNotFound, RunTimeout
from pgflow.testing.result import FlowRunResult, HandlerError, StepResult, TaskResult
from pgflow.types import CompileStatus, Context, QueueMessage, RunStatus, StepTask, TaskStatus

__all__ = ["DEFAULT_TIMEOUT", "FUNCTION_NAME", "arun_to_completion", "run_to_completion"]

DEFAULT_TIMEOUT = 30.0
"""Seconds a run may take before RunTimeout."""

FUNCTION_NAME = "pgflow-testing"
"""The function_name of the worker row run_to_completion registers (pgflow.workers)."""

_VT = 60  # seconds a started task's message stays hidden (the read's visibility timeout)
_IDLE_POLL = 0.05  # seconds between looks while another process holds the run's tasks


def run_to_completion(
    flow: Flow,
    input: Any,
    *,
    dsn: str,
    handlers: Mapping[str, Callable[..., Any]] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    recompile: bool = False,
) -> FlowRunResult:
    """Start a run of ``flow`` with ``input`` in the database at ``dsn`` and run its handlers here
    until the run completes or fails; return the run with its steps' outputs and errors.

    ``handlers`` replaces step handlers for this call (``{step_slug: fn}``; sync or async, taking
    ``(input)`` or ``(input, ctx)`` like the flow's own). The flow is compiled first when the
    database lacks it; a database holding a different definition is an error unless
    ``recompile=True`` (which deletes the flow's runs). Raises RunTimeout after ``timeout`` s.
    Not from inside a running event loop: ``await arun_to_completion(...)`` there.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise PgflowError("run_to_completion() called inside a running event loop: use `await arun_to_completion(...)`")
    return asyncio.run(
        arun_to_completion(flow, input, dsn=dsn, handlers=handlers, timeout=timeout, recompile=recompile)
    )


async def arun_to_completion(
    flow: Flow,
    input: Any,
    *,
    dsn: str,
    handlers: Mapping[str, Callable[..., Any]] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    recompile: bool = False,
) -> FlowRunResult:
    """:func:`run_to_completion` for async code (sync handlers run in a thread of its own)."""
    if not isinstance(flow, Flow):
        raise PgflowError(f"run_to_completion needs a pgflow.dsl.Flow, got {type(flow).__name__}")
    steps = _steps_with(flow, handlers or {})
    deadline = time.monotonic() + timeout
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise PgflowError(f"cannot connect to the database: {str(exc).strip()}") from exc
    async with conn:
        client = AsyncPgflowSqlClient(conn)
        await _ensure_compiled(client, flow, recompile)
        worker_id = uuid.uuid4()
        await client.register_worker(worker_id, flow.slug, FUNCTION_NAME)
        run = await client.start_flow(flow.slug, input)
        driver = _Driver(conn, client, flow, steps, worker_id)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgflow-testing") as threads:
            try:
                await driver.drive(run.run_id, threads, deadline, timeout)
            finally:
                with contextlib.suppress(PgflowError):
                    await client.mark_worker_stopped(worker_id)
        return await _result(conn, client, flow, run.run_id, tuple(driver.errors))


def _steps_with(flow: Flow, handlers: Mapping[str, Callable[..., Any]]) -> dict[str, StepDef]:
    """The flow's steps, with the replaced handlers swapped in (checked: known slug, callable,
    a signature the worker can call)."""
    unknown = sorted(set(handlers) - set(flow.steps))
    if unknown:
        raise PgflowError(
            f"handlers names steps that flow {flow.slug!r} does not have: {', '.join(unknown)} "
            f"(its steps: {', '.join(flow.steps)})"
        )
    steps = dict(flow.steps)
    for slug, fn in handlers.items():
        if not callable(fn):
            raise PgflowError(f"the handler given for step {slug!r} is not callable: {fn!r}")
        _check_handler_signature(slug, fn)
        steps[slug] = dataclasses.replace(steps[slug], handler=fn)
    return steps


async def _ensure_compiled(client: AsyncPgflowSqlClient, flow: Flow, recompile: bool) -> None:
    result = await client.ensure_flow_compiled(flow.slug, flow.shape(), allow_data_loss=recompile)
    if result.status is CompileStatus.MISMATCH:
        raise FlowShapeMismatch(
            flow.slug, result.differences,
            "pass recompile=True to replace it (this deletes the flow's runs), or use a fresh database",
        )


class _Driver:
    """Reads, starts and runs the flow's tasks one at a time until the run ends."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        client: AsyncPgflowSqlClient,
        flow: Flow,
        steps: Mapping[str, StepDef],
        worker_id: uuid.UUID,
    ) -> None:
        self._conn = conn
        self._client = client
        self._flow = flow
        self._steps = steps
        self._worker_id = worker_id
        self._shutdown = asyncio.Event()
        self.errors: list[HandlerError] = []

    async def drive(self, run_id: uuid.UUID, threads: ThreadPoolExecutor, deadline: float, timeout: float) -> None:
        visible = sql.SQL(q.TESTING_MAKE_RUN_VISIBLE).format(
            queue_table=sql.Identifier("pgmq", "q_" + self._flow.slug.lower())
        )
        while await self._status(run_id) is RunStatus.STARTED:
            if time.monotonic() > deadline:
                raise RunTimeout(
                    f"run {run_id} of flow {self._flow.slug!r} still started after {timeout:g} s "
                    f"(see pgflow.get_run_with_states('{run_id}'))"
                )
            claimed = await self._client.read_and_start_tasks(self._flow.slug, self._worker_id, _VT, 1)
            if claimed:
                for task, message in claimed:
                    await self._run_task(task, message, threads)
                continue
            made_visible = await (await self._conn.execute(visible, {"run_id": run_id})).fetchall()
            if not made_visible:  # its tasks are held elsewhere (another worker): look again shortly
                await asyncio.sleep(_IDLE_POLL)

    async def _status(self, run_id: uuid.UUID) -> RunStatus:
        row = await (await self._conn.execute(q.TESTING_RUN_STATUS, {"run_id": run_id})).fetchone()
        if row is None:
            raise RunNotFound(f"run {run_id} not found (deleted while it ran?)")
        return RunStatus(row[0])

    async def _run_task(self, task: StepTask, message: QueueMessage, threads: ThreadPoolExecutor) -> None:
        step = self._steps.get(task.step_slug)
        attempt = task.attempts_count or 1
        if step is None:  # the database's flow has a step this definition lacks
            await self._fail(task, f"PgflowError: step {task.step_slug!r} is not defined in flow {self._flow.slug!r}")
            return
        ctx = self._context(task, message, attempt)
        handler_input = task.flow_input if step.step_type == "single" and not step.depends_on else task.input
        try:
            if step.is_async:
                output = step.to_output(await step.invoke(handler_input, ctx))
            else:
                loop = asyncio.get_running_loop()
                output = await loop.run_in_executor(threads, _run_sync, step, handler_input, ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            message_text = f"{type(exc).__name__}: {exc}"
            self.errors.append(HandlerError(task.step_slug, task.task_index, attempt, exc, message_text))
            await self._fail(task, message_text)
            return
        try:
            await self._client.complete_task(
                task.run_id, task.step_slug, task.task_index, output, expected_attempt=task.attempts_count
            )
        except InvalidOutput as exc:
            message_text = f"InvalidOutput: {exc}"
            self.errors.append(HandlerError(task.step_slug, task.task_index, attempt, exc, message_text))
            await self._fail(task, message_text)

    async def _fail(self, task: StepTask, message: str) -> None:
        await self._client.fail_task(
            task.run_id, task.step_slug, task.task_index, message, expected_attempt=task.attempts_count
        )

    def _context(self, task: StepTask, message: QueueMessage, attempt: int) -> Context:
        return Context(
            run_id=task.run_id,
            flow_slug=task.flow_slug,
            step_slug=task.step_slug,
            task_index=task.task_index,
            msg_id=task.msg_id,
            attempt=attempt,
            worker_id=self._worker_id,
            shutdown=self._shutdown,
            task=task,
            message=message,
            _load_flow_input=lambda: self._client.get_flow_input(task.run_id),
            _loop=asyncio.get_running_loop(),
        )


def _run_sync(step: StepDef, handler_input: Any, ctx: Context) -> Any:
    return step.to_output(step.invoke(handler_input, ctx))


async def _result(
    conn: psycopg.AsyncConnection[Any],
    client: AsyncPgflowSqlClient,
    flow: Flow,
    run_id: uuid.UUID,
    errors: tuple[HandlerError, ...],
) -> FlowRunResult:
    state = await client.get_run(run_id)
    if state is None:
        raise RunNotFound(f"run {run_id} not found")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(q.TESTING_RUN_TASKS, {"run_id": run_id})
        rows = await cur.fetchall()
    tasks: dict[str, list[TaskResult]] = {}
    for r in rows:
        tasks.setdefault(r["step_slug"], []).append(TaskResult(
            task_index=int(r["task_index"]),
            status=TaskStatus(r["status"]),
            attempts=int(r["attempts_count"]),
            output=r["output"],
            error_message=r["error_message"],
        ))
    order = {slug: i for i, slug in enumerate(flow.steps)}
    states = sorted(state.steps, key=lambda s: (order.get(s.step_slug, len(order)), s.step_slug))
    steps = {
        s.step_slug: StepResult(
            slug=s.step_slug,
            status=s.status,
            output=s.output,
            error_message=s.error_message,
            skip_reason=s.skip_reason,
            tasks=tuple(tasks.get(s.step_slug, ())),
        )
        for s in states
    }
    run = state.run
    return FlowRunResult(run.run_id, run.flow_slug, run.status, run.input, run.output, steps, errors)
