"""Polling one flow's queue: reserve free slots, read and start that many tasks, hand each its
slot and run it; when there is nothing, wait.

With the LISTEN connection up, one non-blocking call reads and starts
(``pgflow.read_and_start_tasks``, on the worker's own connection), and an empty read sleeps
until a notification for the flow, the next delayed message's visibility time, or
``max_poll_seconds``. Without it, ``pgmq.read_with_poll`` waits up to ``max_poll_seconds``, then
``pgflow.start_tasks`` starts what it read. Either way the poller polls again as soon as a slot
frees (it does not wait for the whole batch). Once a start call is sent, its tasks run even if
the poller is cancelled (stop, deprecation): the call runs as an in-flight task of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping, Sequence
from typing import Any

import psycopg

from pgflow.client import AsyncPgflowSqlClient
from pgflow.errors import PgflowError, WorkerNotFound
from pgflow.types import QueueMessage, StepTask
from pgflow.worker.connections import HotConnection
from pgflow.worker.inflight import InFlight
from pgflow.worker.listener import Listener
from pgflow.worker.options import WorkerOptions
from pgflow.worker.retry import backoff, is_transient
from pgflow.worker.slots import Lease, Slot, Slots

__all__ = ["Poller"]

logger = logging.getLogger(__name__)

# execute(flow_slug, task, message, slot): run a started task in the slot it holds.
Execute = Callable[[str, StepTask, QueueMessage | None, Slot], Coroutine[Any, Any, None]]


class Poller:
    """The poll loop of one flow (:meth:`run`, until cancelled or ``should_stop()``)."""

    def __init__(
        self,
        flow_slug: str,
        worker_id: uuid.UUID,
        options: WorkerOptions,
        sql: AsyncPgflowSqlClient,
        hot: HotConnection,
        slots: Slots,
        listener: Listener | None,
        inflight: InFlight,
        execute: Execute,
        should_stop: Callable[[], bool],
        register: Callable[[], Awaitable[None]],
        stats: MutableMapping[str, int],
    ) -> None:
        self.flow_slug = flow_slug
        self._worker_id = worker_id
        self._options = options
        self._sql = sql
        self._hot = hot
        self._slots = slots
        self._listener = listener
        self._inflight = inflight
        self._execute = execute
        self._should_stop = should_stop
        self._register = register
        self._stats = stats

    async def run(self) -> None:
        slug = self.flow_slug
        listener = self._listener
        failures = 0
        while True:
            pause = 0.0
            notify = False
            got = 0
            with await self._slots.reserve(self._options.batch_size) as lease:
                if self._should_stop():
                    return
                notify = listener is not None and listener.connected
                try:
                    if listener is not None and notify:
                        listener.wakeup(slug).clear()  # before reading: a notification from now on counts
                        got = await asyncio.shield(self._inflight.spawn(self._read_and_start(lease.detach())))
                    else:
                        got = await self._read_then_start(lease.detach())
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except WorkerNotFound:
                    logger.warning("worker row missing in pgflow.workers, registering again", extra={"flow_slug": slug})
                    failures += 1
                    with contextlib.suppress(PgflowError, psycopg.Error):
                        await self._register()
                    pause = backoff(failures)
                except Exception as exc:
                    failures += 1
                    level = logging.WARNING if is_transient(exc) else logging.ERROR
                    logger.log(level, "polling %s failed (%s), retrying", slug, exc, extra={"flow_slug": slug})
                    pause = backoff(failures)
            if pause:
                await asyncio.sleep(pause)
            elif not got and listener is not None and notify:
                await listener.idle(self._wait_for_work)

    async def _wait_for_work(self) -> None:
        """Sleep until woken, the next delayed message (retry backoff, start delay, expired
        visibility) becomes visible, or max_poll_seconds."""
        assert self._listener is not None
        poll_interval = self._options.poll_interval_ms / 1000
        timeout = max(self._options.max_poll_seconds, poll_interval)
        try:
            next_in = await self._sql.next_visible_in(self.flow_slug)
        except asyncio.CancelledError:
            raise
        except Exception:
            next_in = None
            timeout = poll_interval
        if next_in is not None:
            # <= 0: visible but locked by another reader right now; do not spin on it.
            timeout = min(timeout, next_in + 0.005 if next_in > 0 else poll_interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listener.wakeup(self.flow_slug).wait(), timeout)

    async def _read_and_start(self, lease: Lease) -> int:
        """Read and start up to ``lease.count`` tasks in one call, run them; returns how many."""
        with lease:
            async with self._hot.use() as conn:
                # Checked again once the connection is ours (opening it takes a moment): a worker
                # told to stop meanwhile must not start new tasks.
                if self._should_stop():
                    return 0
                started = await self._sql.read_and_start_tasks(
                    self.flow_slug, self._worker_id, self._options.visibility_timeout, lease.count, conn=conn
                )
            self._run(started, lease)
            return len(started)

    async def _read_then_start(self, lease: Lease) -> int:
        """Without NOTIFY: ``pgmq.read_with_poll`` (waits up to max_poll_seconds), then
        ``start_tasks``; returns how many messages were read."""
        with lease:
            messages = await self._sql.read_messages(
                self.flow_slug,
                self._options.visibility_timeout,
                lease.count,
                max_poll_seconds=self._options.max_poll_seconds,
                poll_interval_ms=self._options.poll_interval_ms,
            )
            if not messages or self._should_stop():
                return 0  # stopped while reading: leave them, they reappear after the vt
            starter = self._inflight.spawn(self._start(messages, lease.detach()))
        await asyncio.shield(starter)
        return len(messages)

    async def _start(self, messages: list[QueueMessage], lease: Lease) -> None:
        with lease:
            tasks = await self._sql.start_tasks(self.flow_slug, [m.msg_id for m in messages], self._worker_id)
            by_id = {m.msg_id: m for m in messages}
            self._run([(task, by_id.get(task.msg_id)) for task in tasks], lease)

    def _run(self, started: Sequence[tuple[StepTask, QueueMessage | None]], lease: Lease) -> None:
        self._stats["started"] += len(started)
        for task, message in started:
            self._inflight.spawn(self._execute(self.flow_slug, task, message, lease.take()))
