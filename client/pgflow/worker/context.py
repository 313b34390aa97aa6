"""The handler context: the :class:`~pgflow.types.Context` each handler receives, the run-input
cache behind ``ctx.flow_input()``, and a task's structured logging fields."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Final

from pgflow.types import Context, QueueMessage, StepTask

__all__ = ["FLOW_INPUT_CACHE", "ContextFactory", "task_extra"]

FLOW_INPUT_CACHE: Final = 1024
"""Runs whose input is kept for ``ctx.flow_input()``."""


class ContextFactory:
    """Builds each task's context. ``load_flow_input(run_id)`` reads a run's input (once per run:
    the last FLOW_INPUT_CACHE runs' inputs are kept)."""

    def __init__(
        self,
        worker_ids: Mapping[str, uuid.UUID],
        shutdown: asyncio.Event,
        load_flow_input: Callable[[uuid.UUID], Awaitable[Any]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._worker_ids = worker_ids
        self._shutdown = shutdown
        self._load = load_flow_input
        self._loop = loop
        self._flow_inputs: OrderedDict[uuid.UUID, Any] = OrderedDict()

    def build(
        self,
        flow_slug: str,
        task: StepTask,
        message: QueueMessage | None,
        extend: Callable[[int], Awaitable[datetime | None]] | None = None,
    ) -> Context:
        """``extend(seconds)``: what ``ctx.extend`` calls (the executor's, bound to the task)."""
        return Context(
            run_id=task.run_id,
            flow_slug=task.flow_slug,
            step_slug=task.step_slug,
            task_index=task.task_index,
            msg_id=task.msg_id,
            attempt=max(message.read_ct, 1) if message is not None else 1,  # claimed: never read
            worker_id=self._worker_ids[flow_slug],
            shutdown=self._shutdown,
            task=task,
            message=message,
            _load_flow_input=lambda: self.flow_input(task.run_id),
            _loop=self._loop,
            _extend=extend,
        )

    async def flow_input(self, run_id: uuid.UUID) -> Any:
        cache = self._flow_inputs
        if run_id in cache:
            cache.move_to_end(run_id)
            return cache[run_id]
        value = await self._load(run_id)
        cache[run_id] = value
        while len(cache) > FLOW_INPUT_CACHE:
            cache.popitem(last=False)
        return value


def task_extra(task: StepTask) -> dict[str, Any]:
    """Structured logging fields of a task (built only when something is logged)."""
    return {
        "flow_slug": task.flow_slug,
        "run_id": str(task.run_id),
        "step_slug": task.step_slug,
        "task_index": task.task_index,
        "msg_id": task.msg_id,
    }
