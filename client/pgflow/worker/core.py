"""`Worker`: wires options, lifecycle, slots, pollers, executor, completer, listener and
services into one object with ``run()`` and ``stop()``. See the package docstring."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from pgflow.client import AsyncPgflowSqlClient
from pgflow.durations import parse_duration
from pgflow.types import QueueMessage, StepTask
from pgflow.worker.completer import BatchCompleter, Completer, InlineCompleter
from pgflow.worker.connections import HotConnection, open_pool
from pgflow.worker.context import ContextFactory
from pgflow.worker.executor import Executor
from pgflow.worker.flows import FlowLike
from pgflow.worker.heartbeat import Heartbeat
from pgflow.worker.hooks import Hook, HookDecorators, Hooks, RunFinished, TaskCompleted, TaskFailed, TaskStarted
from pgflow.worker.inflight import InFlight
from pgflow.worker.lifecycle import Lifecycle, State
from pgflow.worker.listener import LISTEN_ON_TIMEOUT, Listener
from pgflow.worker.metrics import QueueDepth, TaskMetrics
from pgflow.worker.observe import Observers
from pgflow.worker.options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHECK_IDLE_AFTER,
    DEFAULT_COMPILE,
    DEFAULT_CONCURRENCY,
    DEFAULT_FUNCTION_NAME,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MAINTENANCE_INTERVAL,
    DEFAULT_MAX_OUTPUT_BYTES,
    DEFAULT_MAX_POLL_SECONDS,
    DEFAULT_POLL_INTERVAL_MS,
    DEFAULT_RECOVER_DEAD_WORKERS,
    DEFAULT_SCHEDULE_TICK_INTERVAL,
    DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_VISIBILITY_TIMEOUT,
    CompileMode,
    WorkerOptions,
)
from pgflow.worker.poller import Poller
from pgflow.worker.retention import prune_runs_job
from pgflow.worker.runwatch import OwnBackends, RunWatcher
from pgflow.worker.scheduler import ScheduleTicker
from pgflow.worker.services import (
    Maintenance,
    MaintenanceJob,
    Services,
    fail_stalled_job,
    requeue_dead_workers_job,
    requeue_stalled_job,
)
from pgflow.worker.slots import Slot, Slots
from pgflow.worker.startup import Registrar, start_up
from pgflow.worker.tracing import TaskTracer, tracer_provider_for

__all__ = ["Worker"]

logger = logging.getLogger(__name__)

_CLEANUP_TIMEOUT = 5.0  # seconds for each cleanup step (leftover tasks, mark stopped, pool close)


class Worker(HookDecorators):
    """Runs the handlers of one or more flows. See the package docstring and
    :class:`~pgflow.worker.options.WorkerOptions` for the options.

    Observability (README "Observability"): ``before_task``, ``after_task``, ``on_task_error``,
    ``on_run_finished`` take a hook or a list of hooks (also the decorator methods of the same
    names, or a :class:`~pgflow.worker.hooks.Hooks` as ``hooks``); ``tracer_provider`` an
    OpenTelemetry tracer provider (default: the global one, when set; False: no spans);
    ``metrics_port`` / ``metrics_registry`` turn on the Prometheus metrics.

    ``worker_id`` identifies the worker in ``pgflow.workers`` (default: a random UUID). The
    table holds one queue per row, so with several flows the first flow uses ``worker_id`` and
    each further flow a UUID derived from it (``uuid5(worker_id, flow_slug)``); see
    :attr:`worker_ids`.
    """

    def __init__(
        self,
        flows: FlowLike | Sequence[FlowLike],
        dsn: str,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        batch_size: int = DEFAULT_BATCH_SIZE,
        visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
        max_poll_seconds: float = DEFAULT_MAX_POLL_SECONDS,
        poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
        worker_id: uuid.UUID | str | None = None,
        function_name: str = DEFAULT_FUNCTION_NAME,
        compile: CompileMode = DEFAULT_COMPILE,
        allow_data_loss: bool = False,
        shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE,
        use_notify: bool = True,
        sync_threads: int | None = None,
        maintenance_interval: float = DEFAULT_MAINTENANCE_INTERVAL,
        max_pool_size: int | None = None,
        max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
        batch_completions: bool = True,
        claim_next_tasks: bool = True,
        check_idle_after: float = DEFAULT_CHECK_IDLE_AFTER,
        recover_dead_workers: bool = DEFAULT_RECOVER_DEAD_WORKERS,
        dead_worker_timeout: float | None = None,
        schedule_tick_interval: float | None = DEFAULT_SCHEDULE_TICK_INTERVAL,
        schedule_clock: Callable[[], datetime] | None = None,
        hooks: Hooks | None = None,
        before_task: Hook[TaskStarted] | Sequence[Hook[TaskStarted]] = (),
        after_task: Hook[TaskCompleted] | Sequence[Hook[TaskCompleted]] = (),
        on_task_error: Hook[TaskFailed] | Sequence[Hook[TaskFailed]] = (),
        on_run_finished: Hook[RunFinished] | Sequence[Hook[RunFinished]] = (),
        tracer_provider: Any = None,
        metrics_port: int | None = None,
        metrics_registry: Any = None,
        retention: timedelta | str | None = None,
    ) -> None:
        flow_list: list[FlowLike] = list(flows) if isinstance(flows, Sequence) else [flows]
        if not flow_list:
            raise ValueError("Worker needs at least one flow")
        slugs = [f.slug for f in flow_list]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"the same flow slug is given twice: {slugs}")
        self.options = WorkerOptions(
            concurrency=concurrency,
            batch_size=batch_size,
            visibility_timeout=visibility_timeout,
            max_poll_seconds=max_poll_seconds,
            poll_interval_ms=poll_interval_ms,
            heartbeat_interval=heartbeat_interval,
            function_name=function_name,
            compile=compile,
            allow_data_loss=allow_data_loss,
            shutdown_grace=shutdown_grace,
            use_notify=use_notify,
            sync_threads=sync_threads,
            maintenance_interval=maintenance_interval,
            max_pool_size=max_pool_size,
            max_output_bytes=max_output_bytes,
            batch_completions=batch_completions,
            claim_next_tasks=claim_next_tasks,
            check_idle_after=check_idle_after,
            recover_dead_workers=recover_dead_workers,
            dead_worker_timeout=dead_worker_timeout,
            schedule_tick_interval=schedule_tick_interval,
            schedule_clock=schedule_clock,
            metrics_port=metrics_port,
            retention=None if retention is None else parse_duration(retention, "retention"),
        )
        self.hooks = hooks if hooks is not None else Hooks()
        self.hooks.add("before_task", before_task)
        self.hooks.add("after_task", after_task)
        self.hooks.add("on_task_error", on_task_error)
        self.hooks.add("on_run_finished", on_run_finished)
        self._tracer_provider = tracer_provider
        self.metrics: TaskMetrics | None = None
        """The Prometheus metrics while the worker runs (None: metrics are off)."""
        if metrics_port is not None or metrics_registry is not None:
            self.metrics = TaskMetrics(metrics_registry)  # ImportError now, not at run()
        self._flows: dict[str, FlowLike] = {f.slug: f for f in flow_list}
        self._dsn = dsn
        base_id = uuid.uuid4() if worker_id is None else uuid.UUID(str(worker_id))
        self.worker_id: uuid.UUID = base_id
        self.worker_ids: dict[str, uuid.UUID] = {
            slug: base_id if i == 0 else uuid.uuid5(base_id, slug) for i, slug in enumerate(self._flows)
        }
        self.stats: dict[str, int] = {"started": 0, "completed": 0, "failed": 0, "abandoned": 0}
        self.started = asyncio.Event()
        """Set once the worker is registered and polling (for tests and embedding apps)."""
        self._lifecycle = Lifecycle()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = Slots(concurrency)
        self._own = OwnBackends()
        self._hot = HotConnection(dsn, check_idle_after, self._own.record)
        self._deprecated: set[str] = set()  # flows whose worker row an operator deprecated
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self._inflight = InFlight()
        self._listener: Listener | None = None
        self._executor: Executor | None = None

    # -- public ----------------------------------------------------------------------------

    @property
    def flows(self) -> Mapping[str, FlowLike]:
        return self._flows

    @property
    def state(self) -> State:
        """created, running, draining or stopped."""
        return self._lifecycle.state

    @property
    def is_running(self) -> bool:
        return self._lifecycle.state is State.RUNNING

    @property
    def free_slots(self) -> int:
        """Execution slots not held by a task or a poll (``concurrency`` when idle)."""
        return self._slots.free

    @property
    def listening(self) -> bool:
        """LISTEN is in effect on the worker's notification connection (only while a poller waits)."""
        return self._listener is not None and self._listener.active

    @property
    def own_connection_pid(self) -> int | None:
        """Backend pid of the worker's own connection (read-and-start, completion batches), if open."""
        return self._hot.backend_pid

    def stop(self) -> None:
        """Ask the worker to drain and stop. Safe from any thread and from the worker's loop;
        calling it before run() makes run() return at once."""
        loop = self._loop
        if loop is None:
            self._lifecycle.request_stop("stop() before run()")
            return
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._lifecycle.request_stop("stop()")
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._lifecycle.request_stop, "stop()")

    async def run(self) -> None:
        """Start, serve until stop() or deprecation, drain, clean up. Raises SchemaVersionError,
        FlowShapeMismatch or FlowNotFound when the database does not fit the flows, and
        ServiceDied when a background service died; transient database errors never end it."""
        if not self._lifecycle.begin():
            return
        self._loop = loop = asyncio.get_running_loop()
        options = self.options
        threads = ThreadPoolExecutor(max_workers=options.threads, thread_name_prefix="pgflow-worker")
        pool = open_pool(self._dsn, options.pool_size(len(self._flows)), f"pgflow-worker-{self.worker_id}",
                         options.check_idle_after, self._own.record)
        sql = AsyncPgflowSqlClient(pool, max_output_bytes=options.max_output_bytes)
        registrar = Registrar(sql, self.worker_ids, options.function_name)
        services = Services(on_death=lambda name: self._lifecycle.request_stop(f"service {name} died"))
        inflight = self._inflight
        try:
            await pool.open(wait=False)
            if not await start_up(sql, self._flows, options, registrar, self._lifecycle):
                return
            logger.info(
                "worker started",
                extra={
                    "worker_id": str(self.worker_id),
                    "flows": list(self._flows),
                    "concurrency": options.concurrency,
                },
            )
            inline = InlineCompleter(sql)
            completer: Completer = inline
            if options.batch_completions:
                # one flow: completion batches also take its next queued tasks (with several,
                # that would starve the other flows' pollers of slots)
                read_vt = options.visibility_timeout if len(self._flows) == 1 else None
                batch = BatchCompleter(sql, self._hot, inline, self._may_claim, self._run_claimed, read_vt)
                completer = batch
                services.start(batch)
            contexts = ContextFactory(self.worker_ids, self._lifecycle.draining, sql.get_flow_input, loop)
            provider = tracer_provider_for(self._tracer_provider)
            tracer = TaskTracer(provider, sql.run_traceparent) if provider is not None else None
            observers = Observers(self.hooks, self.worker_ids, tracer, self.metrics)
            self._executor = Executor(self._flows, sql, threads, contexts, completer, self.stats, observers)
            if self.metrics is not None:
                if options.metrics_port is not None:
                    self.metrics.serve(options.metrics_port)
                    logger.info("serving Prometheus metrics on http://0.0.0.0:%s/metrics", self.metrics.port)
                services.start(QueueDepth(pool, self.metrics, list(self._flows)))
            if self.hooks.has("on_run_finished"):
                watcher = RunWatcher(self._dsn, pool, self.hooks, self._own, self.worker_ids)
                services.start(watcher)
                await watcher.wait_listening(LISTEN_ON_TIMEOUT)
            heartbeat = Heartbeat(self._dsn, self.worker_ids, options.heartbeat_interval, self._deprecated,
                                  self._deprecate, registrar.register)
            services.start(heartbeat)
            if options.maintenance_interval > 0:
                services.start(Maintenance(self._maintenance_jobs(sql, heartbeat), options.maintenance_interval))
            if options.schedule_tick_interval:
                services.start(ScheduleTicker(sql, options.schedule_tick_interval, options.schedule_clock))
            if options.use_notify:
                self._listener = Listener(self._dsn, self._flows)
                services.start(self._listener)
                # pollers start once LISTEN is up (or could not be set up quickly): a poller that
                # started first would wait in read_with_poll for up to max_poll_seconds, deaf
                await self._listener.wait_active()
            for slug in self._flows:
                poller = Poller(
                    slug, self.worker_ids[slug], options, sql, self._hot, self._slots, self._listener, inflight,
                    execute=self._executor.execute,
                    should_stop=functools.partial(self._stops_polling, slug),
                    register=functools.partial(registrar.register, slug),
                    stats=self.stats,
                )
                self._pollers[slug] = asyncio.create_task(poller.run(), name=f"pgflow-poll-{slug}")
            self.started.set()
            await self._lifecycle.wait_stopping()
            await self._drain(inflight)
        finally:
            try:
                await self._cleanup(services, inflight, sql, registrar, pool, threads)
            finally:
                self._lifecycle.finish()
        if services.died is not None:
            raise services.died

    # -- wiring ----------------------------------------------------------------------------

    def _maintenance_jobs(self, sql: AsyncPgflowSqlClient, heartbeat: Heartbeat) -> list[MaintenanceJob]:
        """The sweep: stalled tasks (pgflow's function), then the tasks of dead workers of the same
        function_name (once this worker's own heartbeat is steady), then the tasks stalled past
        the requeue limit (issue 21); with ``retention``, finished runs pruned (issue 16)."""
        options = self.options
        jobs = [requeue_stalled_job(sql)]
        if options.recover_dead_workers:
            jobs.append(requeue_dead_workers_job(sql, options.dead_after, options.function_name,
                                                 options.recovery_interval, heartbeat.steady_for))
        jobs.append(fail_stalled_job(sql, options.recovery_interval))
        if options.retention is not None:
            jobs.append(prune_runs_job(sql, options.retention))
        return jobs

    def _stops_polling(self, slug: str) -> bool:
        return self._lifecycle.stopping or slug in self._deprecated

    def _deprecate(self, slug: str) -> None:
        logger.warning("worker deprecated in pgflow.workers: stopping polling %s", slug, extra={"flow_slug": slug})
        self._deprecated.add(slug)
        poller = self._pollers.get(slug)
        if poller is not None:
            poller.cancel()
        if self._deprecated >= set(self._flows):
            self._lifecycle.request_stop("every flow's worker row is deprecated")

    def _may_claim(self, flow_slug: str) -> uuid.UUID | None:
        """Whether a completion batch may take the tasks it makes ready in this flow (into its
        own slots), and for which worker id: not when stopping or told to stop polling it."""
        if (
            not self.options.claim_next_tasks
            or self._lifecycle.stopping
            or flow_slug in self._deprecated
            or flow_slug not in self._flows
        ):
            return None
        return self.worker_ids[flow_slug]

    def _run_claimed(self, flow_slug: str, claimed: list[tuple[StepTask, QueueMessage, Slot]]) -> None:
        # Started in the database already: they run even if the worker is stopping now.
        assert self._executor is not None
        self.stats["started"] += len(claimed)
        for task, message, slot in claimed:
            self._inflight.spawn(self._executor.execute(flow_slug, task, message, slot))

    # -- stop ------------------------------------------------------------------------------

    async def _drain(self, inflight: InFlight) -> None:
        logger.info("worker stopping: draining %d in-flight task(s)", len(inflight))
        pollers = list(self._pollers.values())
        for p in pollers:
            if not p.done() and not p.cancelling():  # a second cancel would interrupt psycopg's query cancel
                p.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
        abandoned = await inflight.wait(self.options.shutdown_grace)
        if abandoned:
            self.stats["abandoned"] += abandoned
            logger.warning(
                "%d task(s) still running after shutdown_grace=%ss: abandoned unreported (their messages "
                "become visible again; requeue_stalled_tasks recovers them)",
                abandoned,
                self.options.shutdown_grace,
            )

    async def _cleanup(
        self,
        services: Services,
        inflight: InFlight,
        sql: AsyncPgflowSqlClient,
        registrar: Registrar,
        pool: AsyncConnectionPool[Any],
        threads: ThreadPoolExecutor,
    ) -> None:
        leftovers = [*services.running(), *(t for t in self._pollers.values() if not t.done()), *inflight.leftovers()]
        for t in leftovers:
            if not t.cancelling():
                t.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=_CLEANUP_TIMEOUT)
        for slug in registrar.registered:
            try:
                await asyncio.wait_for(sql.mark_worker_stopped(self.worker_ids[slug]), _CLEANUP_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("could not mark the worker stopped: %s", exc, extra={"flow_slug": slug})
        await self._hot.close()
        await pool.close(timeout=_CLEANUP_TIMEOUT)
        threads.shutdown(wait=False, cancel_futures=True)
        self.hooks.close()
        if self.metrics is not None:
            self.metrics.close()
        logger.info("worker stopped", extra={"worker_id": str(self.worker_id), **self.stats})
