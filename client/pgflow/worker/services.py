"""Background services under one start/stop contract, and the maintenance sweep (the heartbeat
service is in :mod:`pgflow.worker.heartbeat`: it beats from a thread of its own).

A service is an object with a ``name`` and ``async run()``: it runs until cancelled, handling
its own expected errors. Returning means its work is over (e.g. maintenance with every job
disabled), which is logged. Raising means it died: :class:`Services` logs it at ERROR with the
traceback and stops the worker, and ``Worker.run()`` raises :class:`ServiceDied` after the drain.

Maintenance runs a list of named jobs, each every ``every`` seconds (default: the sweep's
``interval``), in list order within a pass: ``requeue_stalled_tasks``, then (issue 21)
``requeue_dead_worker_tasks`` and ``fail_stalled_tasks``. A job that finds its SQL function
missing (SchemaVersionError) is disabled; one that fails otherwise is retried at its next turn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from pgflow.client import AsyncPgflowSqlClient
from pgflow.errors import PgflowError, SchemaVersionError
from pgflow.types import DeadWorkerTask

__all__ = [
    "Maintenance",
    "MaintenanceJob",
    "Service",
    "ServiceDied",
    "Services",
    "fail_stalled_job",
    "requeue_dead_workers_job",
    "requeue_stalled_job",
]

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


@dataclasses.dataclass(frozen=True, slots=True)
class MaintenanceJob:
    """One maintenance job: ``run()`` does one pass, every ``every`` seconds (None: the sweep's
    interval)."""

    name: str
    run: Callable[[], Awaitable[None]]
    every: float | None = None


def requeue_stalled_job(sql: AsyncPgflowSqlClient) -> MaintenanceJob:
    """``pgflow.requeue_stalled_tasks()`` under the maintenance advisory try-lock (at most one
    worker of a database sweeps at a time)."""

    async def requeue() -> None:
        requeued = await sql.requeue_stalled_tasks()
        if requeued:
            logger.info("requeued %d stalled task(s)", requeued)

    return MaintenanceJob("requeue_stalled_tasks", requeue)


def requeue_dead_workers_job(
    sql: AsyncPgflowSqlClient,
    heartbeat_timeout: float,
    function_name: str,
    every: float,
    steady_for: Callable[[], float] = lambda: float("inf"),
) -> MaintenanceJob:
    """``pgflow.requeue_dead_worker_tasks(heartbeat_timeout, function_name)`` under the maintenance
    try-lock: the tasks of workers of this ``function_name`` whose heartbeat stopped go back to
    the queue. One WARNING per dead worker, with its id and the number of its tasks. Skipped
    while this worker's own heartbeat has been steady for less than ``heartbeat_timeout``
    (``steady_for()`` seconds): after an outage, the others get as long to beat again."""

    async def requeue() -> None:
        if steady_for() < heartbeat_timeout:
            return
        tasks = await sql.requeue_dead_worker_tasks(heartbeat_timeout, function_name)
        by_worker: dict[uuid.UUID, list[DeadWorkerTask]] = {}
        for t in tasks or ():
            by_worker.setdefault(t.worker_id, []).append(t)
        for worker_id, held in by_worker.items():
            requeued = sum(t.outcome == "requeued" for t in held)
            stalled = len(held) - requeued
            logger.warning(
                "worker %s is dead (last heartbeat %s, none for over %g s): requeued %d of its task(s)%s",
                worker_id,
                held[0].last_heartbeat_at.isoformat() if held[0].last_heartbeat_at else "never",
                heartbeat_timeout,
                requeued,
                f", {stalled} more stalled past the requeue limit" if stalled else "",
                extra={
                    "worker_id": str(worker_id),
                    "task_count": len(held),
                    "requeued": requeued,
                    "permanently_stalled": stalled,
                    "flow_slug": held[0].flow_slug,
                },
            )

    return MaintenanceJob("requeue_dead_worker_tasks", requeue, every)


def fail_stalled_job(sql: AsyncPgflowSqlClient, every: float | None = None) -> MaintenanceJob:
    """``pgflow.fail_stalled_tasks()`` under the maintenance try-lock: a task stalled past the
    requeue limit fails as a failure of its step would, so its run does not stay started."""

    async def fail() -> None:
        for t in await sql.fail_stalled_tasks() or ():
            logger.warning(
                "task %s[%d] of run %s stalled %d times: failed (step %s, run %s)",
                t.step_slug, t.task_index, t.run_id, t.stalled_count, t.step_status.value, t.run_status.value,
                extra={"run_id": str(t.run_id), "step_slug": t.step_slug, "task_index": t.task_index,
                       "flow_slug": t.flow_slug},
            )

    return MaintenanceJob("fail_stalled_tasks", fail, every)


class Maintenance:
    """Runs each job every ``every`` seconds (its own, or ``interval``), after a random first
    delay (workers started together do not sweep together); the jobs due at a turn run in list
    order. Finishes when every job is disabled."""

    name = "maintenance"

    def __init__(self, jobs: Iterable[MaintenanceJob], interval: float) -> None:
        self._jobs = list(jobs)
        self._interval = interval

    def _every(self, job: MaintenanceJob) -> float:
        return self._interval if job.every is None else job.every

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = min((self._every(j) for j in self._jobs), default=self._interval)
        await asyncio.sleep(random.uniform(0, tick))
        due = dict.fromkeys((j.name for j in self._jobs), loop.time())
        while self._jobs:
            for job in list(self._jobs):
                if loop.time() < due[job.name]:
                    continue
                due[job.name] = loop.time() + self._every(job)
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
                wake = min(due[j.name] for j in self._jobs)
                await asyncio.sleep(max(0.0, wake - loop.time()))
