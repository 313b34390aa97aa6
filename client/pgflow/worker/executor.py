"""Running one task: its handler (async on the loop, sync in the worker's bounded thread pool),
then its report: the result through the completer, an exception through ``pgflow.fail_task``
with ``"<ExceptionType>: <message>"`` (``pgflow.fail_task_with_delay`` when it carries
``retry_after``). The handler runs within its step's timeout, which ``ctx.extend`` moves (see
:mod:`pgflow.worker.control`). The task's slot is given back at the end, unless its completion
handed it to a task it claimed. What became of each task is told to the worker's observers
(:mod:`pgflow.worker.observe`: hooks, span, metrics) once its slot is free."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import logging
from collections.abc import Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pgflow.client import AsyncPgflowSqlClient
from pgflow.errors import InvalidOutput
from pgflow.types import Context, QueueMessage, StepTask
from pgflow.worker.completer import Completer
from pgflow.worker.context import ContextFactory, task_extra
from pgflow.worker.control import Deadlines, TaskDeadline, retry_after_seconds, step_timeout
from pgflow.worker.flows import FlowLike, StepLike
from pgflow.worker.observe import Observers, TaskObservation
from pgflow.worker.retry import report_with_retry
from pgflow.worker.slots import Slot

__all__ = ["Executor"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """What the executor needs of one step, worked out once per step (not per task)."""

    step: StepLike
    timeout: int
    takes_flow_input: bool  # a root single step's handler gets the run's input
    takes_context: bool  # the handler has a ``ctx`` parameter (every non-DSL step is assumed to)


class Executor:
    """Runs tasks of the worker's flows. ``stats`` counts "completed" and "failed"."""

    def __init__(
        self,
        flows: Mapping[str, FlowLike],
        sql: AsyncPgflowSqlClient,
        threads: ThreadPoolExecutor,
        contexts: ContextFactory,
        completer: Completer,
        stats: MutableMapping[str, int],
        observers: Observers,
    ) -> None:
        self._flows = flows
        self._sql = sql
        self._threads = threads
        self._contexts = contexts
        self._completer = completer
        self._stats = stats
        self._observers = observers
        self._plans: dict[tuple[str, str], _Plan] = {}
        self._deadlines: Deadlines | None = None  # made on the loop, on the first task

    def _plan(self, flow_slug: str, step_slug: str) -> _Plan | None:
        flow = self._flows[flow_slug]
        step = flow.steps.get(step_slug)
        if step is None:
            return None
        plan = _Plan(
            step=step,
            timeout=step_timeout(flow, step),
            takes_flow_input=step.step_type == "single" and not step.depends_on,
            takes_context=getattr(step, "takes_context", True),
        )
        self._plans[(flow_slug, step_slug)] = plan
        return plan

    async def execute(self, flow_slug: str, task: StepTask, message: QueueMessage | None, slot: Slot) -> None:
        """Run the task's handler and report its result; give its slot back (or hand it over);
        then tell the observers (hooks, span, metrics) what became of it. With nothing observing
        (no hooks, no tracer, no metrics) the task costs nothing for them."""
        obs = self._observers.task(flow_slug, task)
        try:
            await self._execute(flow_slug, task, message, slot, obs)
        except BaseException:
            if obs is not None:
                obs.abandon()
            raise
        finally:
            slot.release()
        if obs is not None:
            await obs.finish()

    async def _execute(
        self,
        flow_slug: str,
        task: StepTask,
        message: QueueMessage | None,
        slot: Slot,
        obs: TaskObservation | None,
    ) -> None:
        debug = logger.isEnabledFor(logging.DEBUG)
        plan = self._plans.get((flow_slug, task.step_slug)) or self._plan(flow_slug, task.step_slug)
        if plan is None:
            message_text = (
                f"PgflowError: step {task.step_slug!r} is not defined in this worker's flow "
                f"{self._flows[flow_slug].slug!r}"
            )
            await self.fail(task, message_text)
            if obs is not None:
                obs.failed(None, message_text)
            return
        step = plan.step
        deadlines = self._deadlines
        if deadlines is None:
            deadlines = self._deadlines = Deadlines(asyncio.get_running_loop())
        deadline = deadlines.deadline(plan.timeout)
        ctx = (
            self._contexts.build(flow_slug, task, message, functools.partial(self._extend, task, deadline))
            if plan.takes_context
            else None
        )
        handler_input = task.flow_input if plan.takes_flow_input else task.input
        if debug:
            logger.debug("task started", extra=task_extra(task))
        try:
            if obs is None:
                with deadline:
                    output = await self._run_handler(step, handler_input, ctx)
            else:
                await obs.start()
                with obs.running(), deadline:
                    output = await self._run_handler(step, handler_input, ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if obs is not None:
                obs.handler_returned()
            if isinstance(exc, TimeoutError) and deadline.expired:
                # async: cancelled; sync: abandoned, its thread runs on and its result is dropped
                logger.warning("task timed out after %s s", deadline.timeout, extra=task_extra(task))
                error_message = deadline.message(task.step_slug)
                await self.fail(task, error_message)
                if obs is not None:
                    obs.failed(exc, error_message)
                return
            logger.warning("task failed: %s: %s", type(exc).__name__, exc, extra=task_extra(task), exc_info=exc)
            error_message = f"{type(exc).__name__}: {exc}"
            await self.fail(task, error_message, retry_after_seconds(exc))
            if obs is not None:
                obs.failed(exc, error_message)
            return
        if obs is not None:
            obs.handler_returned()
        try:
            await self._completer.complete(task, output, slot)
        except InvalidOutput as exc:
            logger.warning("task output rejected: %s", exc, extra=task_extra(task))
            error_message = f"InvalidOutput: {exc}"
            await self.fail(task, error_message)
            if obs is not None:
                obs.failed(exc, error_message)
            return
        if obs is not None:
            obs.completed(output)
        self._stats["completed"] += 1
        if debug:
            logger.debug("task completed", extra=task_extra(task))

    async def _run_handler(self, step: StepLike, handler_input: Any, ctx: Context | None) -> Any:
        """The handler's result as JSON data: async handlers on the loop, sync ones in the pool."""
        if step.is_async:
            return step.to_output(await step.invoke(handler_input, ctx))
        # the handler's thread sees the caller's context (the task's span, if any)
        run = contextvars.copy_context().run
        return await asyncio.get_running_loop().run_in_executor(self._threads, run, _run_sync, step, handler_input, ctx)

    async def fail(self, task: StepTask, message: str, retry_after: int | None = None) -> None:
        """Report a failed attempt (with ``retry_after``: its retry waits that many seconds).
        Always guarded: a fail_task replayed after a lost acknowledgement must not fail the
        task's next attempt (pgflow's fail_task names none)."""
        attempt = task.attempts_count
        if retry_after is None:
            await report_with_retry(
                lambda _retry: self._sql.fail_task(
                    task.run_id, task.step_slug, task.task_index, message, expected_attempt=attempt
                ),
                task,
            )
        else:
            await report_with_retry(
                lambda _retry: self._sql.fail_task_with_delay(
                    task.run_id, task.step_slug, task.task_index, message, retry_after, expected_attempt=attempt
                ),
                task,
            )
        self._stats["failed"] += 1

    async def _extend(self, task: StepTask, deadline: TaskDeadline, seconds: int) -> datetime | None:
        """``ctx.extend(seconds)``: the task's deadline in the database, then the worker's own."""
        new = await self._sql.extend_task_timeout(task.run_id, task.step_slug, task.task_index, seconds)
        if new is not None:
            deadline.extend(seconds)
        else:
            logger.info("timeout not extended: the task is no longer this worker's", extra=task_extra(task))
        return new


def _run_sync(step: StepLike, handler_input: Any, ctx: Context | None) -> Any:
    """Runs in the worker's thread pool: the handler and the conversion of its result."""
    return step.to_output(step.invoke(handler_input, ctx))
