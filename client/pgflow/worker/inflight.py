"""The worker's in-flight work: every task started (and every start call whose tasks must run
even if its poller is cancelled) runs as an asyncio task tracked here, so that stopping can wait
for it within the grace period and then abandon what is left."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["InFlight"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class InFlight:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # also marks it retrieved
            logger.debug("background task failed: %r", task.exception())

    async def wait(self, grace: float) -> int:
        """Wait up to ``grace`` seconds for everything in flight; return how many are still running."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return len(self._tasks)

    def leftovers(self) -> list[asyncio.Task[Any]]:
        return [t for t in self._tasks if not t.done()]
