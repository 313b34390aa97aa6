"""A worker inside your own asyncio program: ``pgflow.serve([flows], dsn)`` or ``flow.serve(dsn)``.

::

    async with pgflow.serve([greet], dsn) as worker:   # returns once the worker polls
        ...                                            # the application runs; so does the worker
    # leaving the block stops the worker: it drains in-flight tasks, then returns

    await pgflow.serve([greet], dsn)                   # or: serve until cancelled, then drain

The worker runs as a task on the caller's event loop (sync handlers in its own bounded thread pool),
so one process holds the application and its worker: the shape for a web app whose requests start
runs. Deploy ``pgflow worker`` instead when workers should scale, restart or be released apart from
the application. Signals stay the application's business (uvicorn's, for a web app); nothing here
installs a handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator, Sequence
from types import TracebackType
from typing import Any

from pgflow.errors import PgflowError
from pgflow.worker import Worker
from pgflow.worker.flows import FlowLike

__all__ = ["Serving", "serve"]

logger = logging.getLogger(__name__)


class Serving:
    """A worker started as a task of the running loop: an async context manager (enter: started
    and polling; exit: stopped), and an awaitable (serve until cancelled). Made by :func:`serve`."""

    def __init__(self, flows: FlowLike | Sequence[FlowLike], dsn: str, **worker_options: Any) -> None:
        self.worker = Worker(flows, dsn, **worker_options)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> Worker:
        """Start the worker's task; return once it has compiled or verified its flows and polls.
        Raises what ``Worker.run()`` raises when it ends first (SchemaVersionError,
        FlowShapeMismatch, ...)."""
        if self._task is not None:
            raise PgflowError("this Serving was started already: call pgflow.serve() again for a new worker")
        task = self._task = asyncio.create_task(self.worker.run(), name="pgflow-serve")
        task.add_done_callback(self._ended)
        started = asyncio.ensure_future(self.worker.started.wait())
        try:
            await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self.stop()
            raise
        finally:
            started.cancel()
        if not self.worker.started.is_set():
            self._stopping = True
            await task  # its error, if it ended with one
            raise PgflowError("the worker stopped before it started polling")
        return self.worker

    async def stop(self) -> None:
        """Drain and stop the worker (``Worker.stop()``), and wait for its task. Raises what the
        worker's run raised (e.g. ServiceDied). Calling it again does nothing more."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self.worker.stop()
        await asyncio.shield(task)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping or task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("the embedded pgflow worker died: %s", exc, exc_info=exc)
        else:
            logger.warning("the embedded pgflow worker stopped (every flow's worker row was deprecated)")

    async def __aenter__(self) -> Worker:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _serve_until_cancelled(self) -> None:
        async with self:
            assert self._task is not None
            await asyncio.shield(self._task)  # ends with the worker; cancelling us drains it in __aexit__

    def __await__(self) -> Generator[Any, None, None]:
        return self._serve_until_cancelled().__await__()


def serve(flows: FlowLike | Sequence[FlowLike], dsn: str, **worker_options: Any) -> Serving:
    """Run a worker for ``flows`` inside the running asyncio program; ``worker_options`` are
    :class:`pgflow.Worker`'s keywords (``concurrency=``, ``compile=``, ...). Use it as
    ``async with serve(...) as worker:`` or ``await serve(...)``. Nothing starts until then."""
    return Serving(flows, dsn, **worker_options)
