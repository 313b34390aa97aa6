"""Background services under one start/stop contract, and the two periodic ones: heartbeat and
maintenance.

A service is an object with a ``name`` and ``async run()``: it runs until cancelled, handling
its own expected errors. Returning means its work is over (e.g. maintenance with every job
disabled), which is logged. Raising means it died: :class:`Services` logs it at ERROR with the
traceback and stops the worker, and ``Worker.run()`` raises :class:`ServiceDied` after the drain.

Maintenance runs a list of named jobs every ``interval`` seconds; today one,
``requeue_stalled_tasks``. A job that finds its SQL function missing (SchemaVersionError) is
disabled; one that fails otherwise is retried at the next sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping
from typing import Protocol

import psycopg

from pgflow.client import AsyncPgflowSqlClient
from pgflow.errors import PgflowError, SchemaVersionError, WorkerNotFound

__all__ = ["Heartbeat", "Maintenance", "MaintenanceJob", "Service", "ServiceDied", "Services", "requeue_stalled_job"]

logger = logging.getLogger(__name__)


class ServiceDied(PgflowError):
    """A worker's background service raised: the worker stopped."""

    def __init__(self, name: str, cause: BaseException) -> None:
        super().__init__(f"worker service {name!r} died: {type(cause).__name__}: {cause}")
        self.service = name


class Service(Protocol):
    @property
    def name(self) -> str: ...
    async def run(self) -> None: ...


class Services:
    """Starts services as named asyncio tasks and watches them; ``on_death`` is called (once per
    death) when one raises."""

    def __init__(self, on_death: Callable[[str], None]) -> None:
        self._on_death = on_death
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.died: ServiceDied | None = None

    def start(self, service: Service) -> None:
        if service.name in self._tasks:
            raise ValueError(f"a service named {service.name!r} is already running")
        task = asyncio.create_task(service.run(), name=f"pgflow-{service.name}")
        task.add_done_callback(lambda t: self._ended(service.name, t))
        self._tasks[service.name] = task

    def _ended(self, name: str, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            logger.info("worker service %s finished", name)
            return
        logger.error("worker service %s died: stopping the worker", name, exc_info=exc)
        if self.died is None:
            self.died = ServiceDied(name, exc)
        self._on_death(name)

    def running(self) -> list[asyncio.Task[None]]:
        return [t for t in self._tasks.values() if not t.done()]


class Heartbeat:
    """Every ``interval`` seconds, a heartbeat per worker row; a row found deprecated is reported
    to ``on_deprecated(flow_slug)``, a missing one registered again."""

    name = "heartbeat"

    def __init__(
        self,
        sql: AsyncPgflowSqlClient,
        worker_ids: Mapping[str, uuid.UUID],
        interval: float,
        deprecated: Container[str],
        on_deprecated: Callable[[str], None],
        register: Callable[[str], Awaitable[None]],
    ) -> None:
        self._sql = sql
        self._worker_ids = worker_ids
        self._interval = interval
        self._deprecated = deprecated
        self._on_deprecated = on_deprecated
        self._register = register

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            for slug, wid in self._worker_ids.items():
                if slug in self._deprecated:
                    continue
                try:
                    deprecated = await self._sql.heartbeat(wid)
                except asyncio.CancelledError:
                    raise
                except WorkerNotFound:
                    logger.warning("worker row missing in pgflow.workers, registering again", extra={"flow_slug": slug})
                    with contextlib.suppress(PgflowError, psycopg.Error):
                        await self._register(slug)
                    continue
                except Exception as exc:
                    logger.warning("heartbeat failed: %s", exc, extra={"flow_slug": slug})
                    continue
                if deprecated:
                    self._on_deprecated(slug)


@dataclasses.dataclass(frozen=True, slots=True)
class MaintenanceJob:
    """One maintenance job: ``run()`` does one pass."""

    name: str
    run: Callable[[], Awaitable[None]]


def requeue_stalled_job(sql: AsyncPgflowSqlClient) -> MaintenanceJob:
    """``pgflow.requeue_stalled_tasks()`` under the maintenance advisory try-lock (at most one
    worker of a database sweeps at a time)."""

    async def requeue() -> None:
        requeued = await sql.requeue_stalled_tasks()
        if requeued:
            logger.info("requeued %d stalled task(s)", requeued)

    return MaintenanceJob("requeue_stalled_tasks", requeue)


class Maintenance:
    """Runs its jobs every ``interval`` seconds, after a random first delay (workers started
    together do not sweep together). Finishes when every job is disabled."""

    name = "maintenance"

    def __init__(self, jobs: Iterable[MaintenanceJob], interval: float) -> None:
        self._jobs = list(jobs)
        self._interval = interval

    async def run(self) -> None:
        await asyncio.sleep(random.uniform(0, self._interval))
        while self._jobs:
            for job in list(self._jobs):
                try:
                    await job.run()
                except asyncio.CancelledError:
                    raise
                except SchemaVersionError:
                    logger.info("maintenance job %s: its SQL function is not installed: disabled", job.name)
                    self._jobs.remove(job)
                except Exception as exc:
                    logger.warning("maintenance job %s failed: %s", job.name, exc)
            if self._jobs:
                await asyncio.sleep(self._interval)
