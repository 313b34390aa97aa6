"""What a handler receives as ``ctx``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pgflow.types._runs import QueueMessage, StepTask


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler that takes two parameters receives as ``ctx``.

    ``attempt`` is the message's ``read_ct`` (1 on the first delivery). ``shutdown`` is set when
    the worker starts draining: a long handler may check ``ctx.shutdown.is_set()`` (from any
    thread) or ``await ctx.shutdown.wait()`` (async handlers) and finish early.

    ``await ctx.flow_input()`` returns the run's input: the task's own ``flow_input`` when
    start_tasks sent it (root single steps), otherwise read once from ``pgflow.runs`` and cached
    per run. Sync handlers (running in the worker's thread pool) call ``ctx.flow_input_sync()``.

    ``await ctx.extend(seconds)`` (sync handlers: ``ctx.extend_sync(seconds)``) asks for more time:
    the task's deadline, in the database (``pgflow.extend_task_timeout``) and in the worker, becomes
    at least ``seconds`` from now. It returns the new deadline, or None when the task is no longer
    this worker's (completed elsewhere, requeued, its run cancelled).
    """

    run_id: uuid.UUID
    flow_slug: str
    step_slug: str
    task_index: int
    msg_id: int
    attempt: int
    worker_id: uuid.UUID
    shutdown: asyncio.Event
    task: StepTask
    message: QueueMessage | None = None
    _load_flow_input: Callable[[], Awaitable[Any]] | None = field(default=None, repr=False, compare=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False, compare=False)
    _extend: Callable[[int], Awaitable[datetime | None]] | None = field(default=None, repr=False, compare=False)

    async def extend(self, seconds: int) -> datetime | None:
        """Move this task's deadline to at least ``seconds`` from now (see the class docstring)."""
        if self._extend is None:
            raise RuntimeError("ctx.extend() needs the worker that runs the task")
        return await self._extend(seconds)

    def extend_sync(self, seconds: int, timeout: float | None = 30.0) -> datetime | None:
        """:meth:`extend` from a sync handler running in a worker thread (not on the loop)."""
        if self._loop is None:
            raise RuntimeError("ctx.extend_sync() needs the worker that runs the task")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run_coroutine_threadsafe(self.extend(seconds), self._loop).result(timeout)
        raise RuntimeError("extend_sync() called on the event loop: use `await ctx.extend(seconds)`")

    async def flow_input(self) -> Any:
        if self.task.flow_input is not None or self._load_flow_input is None:
            return self.task.flow_input
        return await self._load_flow_input()

    def flow_input_sync(self, timeout: float | None = 30.0) -> Any:
        """The run's input, from a sync handler running in a worker thread (not on the loop)."""
        if self.task.flow_input is not None or self._loop is None:
            return self.task.flow_input
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            raise RuntimeError("flow_input_sync() called on the event loop: use `await ctx.flow_input()`")
        return asyncio.run_coroutine_threadsafe(self.flow_input(), self._loop).result(timeout)
