"""``on_run_finished``: how the worker learns that a run it took part in has finished.

The completion calls do not say: ``complete_task``/``fail_task`` return task rows and the batched
``complete_tasks_count`` a count. What does say is the ``pgflow`` NOTIFY channel, where every
run's ``run:completed`` or ``run:failed`` event is sent exactly once, by the transaction that
finished the run. PostgreSQL tells a listener which backend sent each notification, and the
worker knows its own backends (every pool connection and its own warm connection record their
pid when they open: :class:`OwnBackends`). So :class:`RunWatcher` (a worker service, started only
when an ``on_run_finished`` hook is registered) LISTENs on ``pgflow`` on a connection of its own
and fires the hooks for the run events of the worker's flows that one of its own backends sent:
the worker whose completion (batched or inline), failure report or maintenance sweep finished
the run, and no other. In a fleet each finished run is reported once, by one worker; runs that
end otherwise (a cancel, a run with no tasks) are not reported by any worker.

Delivery is at most once: a run finished while the LISTEN connection is down (it reconnects with
backoff) is not reported. An event too large for NOTIFY arrives without its output or error
(``truncated``): those are read back from ``pgflow.runs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import psycopg
from psycopg_pool import AsyncConnectionPool

from pgflow import queries
from pgflow.worker.hooks import Hooks, RunFinished
from pgflow.worker.retry import backoff

__all__ = ["OwnBackends", "RunWatcher"]

logger = logging.getLogger(__name__)

_RUN_EVENTS = frozenset({"run:completed", "run:failed"})


class OwnBackends:
    """The server pids of the worker's connections (pool and warm connection), recorded as they
    open. Pids are kept after a connection closes (a pool recycles connections rarely)."""

    def __init__(self) -> None:
        self.pids: set[int] = set()

    async def record(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """A pool's ``configure`` callback, also called by the warm connection when it opens."""
        self.pids.add(conn.info.backend_pid)


class RunWatcher:
    """LISTEN on ``pgflow``; fire ``on_run_finished`` for the runs this worker finished."""

    name = "run-watch"

    def __init__(
        self, dsn: str, pool: AsyncConnectionPool[Any], hooks: Hooks, own: OwnBackends,
        worker_ids: Mapping[str, uuid.UUID],
    ) -> None:
        self._dsn = dsn
        self._pool = pool
        self._hooks = hooks
        self._own = own
        self._worker_ids = worker_ids
        self._listening = asyncio.Event()
        self._fired: set[asyncio.Task[None]] = set()

    async def wait_listening(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout)

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await conn.execute(queries.LISTEN_EVENTS)
                    self._listening.set()
                    failures = 0
                    async for note in conn.notifies():
                        if note.pid in self._own.pids:
                            self._on_event(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                logger.warning("LISTEN pgflow connection lost (%s): runs finished meanwhile are not reported", exc)
            finally:
                self._listening.clear()
            await asyncio.sleep(backoff(failures))

    def _on_event(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            return
        if not isinstance(event, dict) or event.get("event") not in _RUN_EVENTS:
            return
        flow_slug = event.get("flow_slug")
        if not isinstance(flow_slug, str) or flow_slug not in self._worker_ids:
            return
        # Hooks run in a task of their own: notifications keep flowing while they do.
        task = asyncio.create_task(self._fire(event, flow_slug), name="pgflow-on-run-finished")
        self._fired.add(task)
        task.add_done_callback(self._fired.discard)

    async def _fire(self, event: dict[str, Any], flow_slug: str) -> None:
        run_id = uuid.UUID(event["run_id"])
        status: Literal["completed", "failed"] = "completed" if event["event"] == "run:completed" else "failed"
        output, error_message = event.get("output"), event.get("error_message")
        if event.get("truncated"):
            try:
                async with self._pool.connection() as conn:
                    cur = await conn.execute(queries.RUN_RESULT, {"run_id": run_id})
                    row = await cur.fetchone()
                if row is not None:
                    output, error_message = row
            except Exception as exc:  # the hook still runs, without the bulky fields
                logger.info("could not read the finished run back: %s", exc, extra={"run_id": str(run_id)})
        finished = RunFinished(
            flow_slug=flow_slug, run_id=run_id, status=status, worker_id=self._worker_ids[flow_slug],
            output=output if status == "completed" else None,
            error_message=error_message if status == "failed" else None,
        )
        await self._hooks.fire("on_run_finished", finished)
