"""Workers' bookkeeping and maintenance sweeps, the async side: register a worker, heartbeat,
mark it stopped; requeue stalled tasks (the contract's sweep), the tasks of dead workers, and fail
the tasks stalled past the requeue limit, each under the maintenance advisory try-lock. Written
by hand; ``_sync_workers.py`` is generated from it by ``scripts/async_to_sync.py``.

:class:`AsyncWorkers` is a mixin of :class:`~pgflow.client.AsyncPgflowSqlClient`: it uses the
client's ``_fetch`` and ``_transaction``.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import DictRow, dict_row

from pgflow import queries as q
from pgflow.client._async_io import execute_as
from pgflow.client._values import first
from pgflow.errors import WorkerNotFound
from pgflow.types import DeadWorkerTask, StalledTaskFailure

if TYPE_CHECKING:
    from pgflow.client._base import Params, Query


class AsyncWorkers:
    """The worker bookkeeping and maintenance methods of the SQL client (a mixin of it)."""

    if TYPE_CHECKING:

        async def _fetch(
            self, query: Query, params: Params | None, conn: psycopg.AsyncConnection[Any] | None, **context: Any
        ) -> list[DictRow]: ...

        def _transaction(
            self, conn: psycopg.AsyncConnection[Any] | None, **context: Any
        ) -> contextlib.AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]: ...

    async def register_worker(
        self,
        worker_id: uuid.UUID | str,
        queue_name: str,
        function_name: str,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> None:
        """Insert (or revive) the worker's row in ``pgflow.workers``, as the edge worker does."""
        params = {"worker_id": worker_id, "queue_name": queue_name, "function_name": function_name}
        await self._fetch(q.REGISTER_WORKER, params, conn, worker_id=str(worker_id))

    async def heartbeat(self, worker_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None) -> bool:
        """Record a heartbeat; return True when an operator has deprecated this worker."""
        row = first(await self._fetch(q.HEARTBEAT, {"worker_id": worker_id}, conn, worker_id=str(worker_id)))
        if row is None:
            raise WorkerNotFound(f"worker {worker_id} has no row in pgflow.workers")
        return bool(row["is_deprecated"])

    async def mark_worker_stopped(
        self, worker_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> None:
        """``pgflow.mark_worker_stopped``: record the worker's graceful shutdown (its ``stopped_at``)."""
        await self._fetch(q.MARK_WORKER_STOPPED, {"worker_id": worker_id}, conn, worker_id=str(worker_id))

    async def requeue_stalled_tasks(self, *, conn: psycopg.AsyncConnection[Any] | None = None) -> int | None:
        """``pgflow.requeue_stalled_tasks()`` under a transaction-level advisory try-lock, so
        that concurrent callers skip instead of queueing up. None: someone else holds the lock."""
        async with self._transaction(conn) as c:
            if not await _maintenance_lock(c):
                return None
            row = first(await execute_as(c, q.REQUEUE_STALLED_TASKS, None, dict_row))
            return int(row["requeued"] or 0) if row else 0

    async def requeue_dead_worker_tasks(
        self,
        heartbeat_timeout: float,
        function_name: str | None = None,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[DeadWorkerTask] | None:
        """``pgflow.requeue_dead_worker_tasks``: the started tasks of every worker (of
        ``function_name``, when given) whose last heartbeat is older than ``heartbeat_timeout``
        seconds and which did not stop cleanly go back to the queue (or are given up on at the
        requeue limit). One row per task. Under the maintenance try-lock, as
        :meth:`requeue_stalled_tasks`: None when someone else holds it."""
        if not heartbeat_timeout > 0:
            raise ValueError(f"heartbeat_timeout must be > 0 seconds, got {heartbeat_timeout}")
        params = {"heartbeat_timeout": heartbeat_timeout, "function_name": function_name}
        async with self._transaction(conn) as c:
            if not await _maintenance_lock(c):
                return None
            rows = await execute_as(c, q.REQUEUE_DEAD_WORKER_TASKS, params, dict_row)
            return [DeadWorkerTask.from_row(r) for r in rows]

    async def fail_stalled_tasks(
        self, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> list[StalledTaskFailure] | None:
        """``pgflow.fail_stalled_tasks``: fail each task stalled past the requeue limit as a
        failure of its step would (the run fails, or the step is skipped, by its policy). One row
        per task failed. Under the maintenance try-lock: None when someone else holds it."""
        async with self._transaction(conn) as c:
            if not await _maintenance_lock(c):
                return None
            rows = await execute_as(c, q.FAIL_STALLED_TASKS, None, dict_row)
            return [StalledTaskFailure.from_row(r) for r in rows]



async def _maintenance_lock(c: psycopg.AsyncConnection[Any]) -> bool:
    """Take the maintenance advisory try-lock for the transaction open on ``c``: False when
    another session holds it."""
    locked = first(await execute_as(c, q.TRY_MAINTENANCE_LOCK, {"key": q.MAINTENANCE_LOCK_KEY}, dict_row))
    return bool(locked and locked["locked"])
