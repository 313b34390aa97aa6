"""The worker's options: one frozen record, validated once, with its defaults as named constants.

The ``DEFAULT_*`` constants are what ``Worker(...)`` uses when a keyword is left out; the CLI's
``--help`` quotes the same constants, so the two cannot disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final, Literal

from pgflow.client import DEFAULT_MAX_OUTPUT_BYTES

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CHECK_IDLE_AFTER",
    "DEFAULT_COMPILE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_DEAD_WORKER_HEARTBEATS",
    "DEFAULT_FUNCTION_NAME",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_MAINTENANCE_INTERVAL",
    "DEFAULT_MAX_OUTPUT_BYTES",
    "DEFAULT_MAX_POLL_SECONDS",
    "DEFAULT_POLL_INTERVAL_MS",
    "DEFAULT_RECOVER_DEAD_WORKERS",
    "DEFAULT_RETENTION",
    "DEFAULT_SCHEDULE_TICK_INTERVAL",
    "DEFAULT_SHUTDOWN_GRACE",
    "DEFAULT_VISIBILITY_TIMEOUT",
    "CompileMode",
    "WorkerOptions",
]

CompileMode = Literal["auto", "verify", "off"]
COMPILE_MODES: Final = ("auto", "verify", "off")

DEFAULT_CONCURRENCY: Final = 10
"""Handlers running at once (the worker's execution slots)."""
DEFAULT_BATCH_SIZE: Final = 10
"""Most messages one poll reads and starts."""
DEFAULT_VISIBILITY_TIMEOUT: Final = 5
"""Seconds a message read but not yet started stays hidden (start_tasks then sets its step's)."""
DEFAULT_MAX_POLL_SECONDS: Final[float] = 2
"""Longest wait of one poll for messages (and of an idle poller between wake-ups)."""
DEFAULT_POLL_INTERVAL_MS: Final = 100
"""Pause between queue checks within one ``pgmq.read_with_poll``."""
DEFAULT_HEARTBEAT_INTERVAL: Final = 5.0
"""Seconds between heartbeats of each worker row."""
DEFAULT_FUNCTION_NAME: Final = "pgflow-py"
"""``pgflow.workers.function_name`` of the worker's rows."""
DEFAULT_COMPILE: Final[CompileMode] = "auto"
"""What the worker does with its flows' definitions on start (see :class:`WorkerOptions`)."""
DEFAULT_SHUTDOWN_GRACE: Final = 30.0
"""Seconds ``stop()`` waits for in-flight tasks before abandoning them."""
DEFAULT_MAINTENANCE_INTERVAL: Final = 15.0
"""Seconds between maintenance sweeps (0: no sweeps)."""
DEFAULT_CHECK_IDLE_AFTER: Final = 1.0
"""A connection idle longer than this (seconds) is tested with a round trip before its next use."""
DEFAULT_RECOVER_DEAD_WORKERS: Final = True
"""Whether maintenance requeues the tasks of dead workers (``pgflow.requeue_dead_worker_tasks``)."""
DEFAULT_DEAD_WORKER_HEARTBEATS: Final = 3
"""``dead_worker_timeout`` when not given: this many heartbeat intervals (15 s with the default 5 s)."""
DEFAULT_SCHEDULE_TICK_INTERVAL: Final = 5.0
"""Seconds between two ``pgflow.tick_schedules()`` calls of a worker (0 or None: it does not tick)."""
DEFAULT_RETENTION: Final[timedelta | None] = None
"""How long finished runs are kept before the maintenance sweep prunes them (None: forever)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    """Everything that tunes a worker, checked when built (ValueError naming the option).

    ``compile``: ``"auto"`` calls ``pgflow.ensure_flow_compiled`` (creates a missing flow;
    recompiles a changed one only with ``allow_data_loss=True`` or on a local Supabase, else
    raises FlowShapeMismatch); ``"verify"`` only compares, never writes (FlowShapeMismatch, or
    FlowNotFound when the flow is not compiled); ``"off"`` skips the check.

    ``sync_threads`` (default: ``concurrency``) sizes the thread pool of sync handlers;
    ``max_pool_size`` (default: flows + min(concurrency, 10) + 2) the connection pool.
    Dead workers (``recover_dead_workers``, on by default): every ``heartbeat_interval`` (or every
    ``maintenance_interval`` when that is shorter) the maintenance sweep calls
    ``pgflow.requeue_dead_worker_tasks``: the started tasks of a worker registered under the same
    ``function_name`` whose last heartbeat is older than ``dead_worker_timeout`` seconds (default
    ``DEFAULT_DEAD_WORKER_HEARTBEATS`` heartbeat intervals: 15 s) and which did not stop cleanly
    go back to the queue at once. Workers sharing a ``function_name`` judge each other, so give
    them the same ``heartbeat_interval`` (or an explicit ``dead_worker_timeout`` longer than the
    longest). Then ``pgflow.fail_stalled_tasks`` fails the tasks stalled past the requeue limit.
    ``maintenance_interval=0`` turns every sweep off.

    ``batch_completions`` sends results in batches (``pgflow.complete_tasks_count``), and with
    ``claim_next_tasks`` a batch also starts the tasks its results make ready
    (``pgflow.complete_tasks_and_claim``) and, in a worker of one flow, the flow's next queued
    tasks (``pgflow.read_and_start_tasks`` in the same transaction); without them every result is
    one ``complete_task``.

    ``schedule_tick_interval``: seconds between the worker's ``pgflow.tick_schedules`` calls
    (0 or None: the worker starts no scheduled runs); ``schedule_clock`` (default: the
    database's clock) gives the ``now`` each tick passes, for tests and simulations.
    ``metrics_port`` serves the worker's Prometheus metrics (see :mod:`pgflow.worker.metrics`).
    ``retention`` (a timedelta; ``Worker`` also takes ``"7d"``): the maintenance sweep also
    deletes finished runs older than this (``pgflow.prune_runs``, see :mod:`pgflow.worker.retention`);
    it needs ``maintenance_interval`` > 0.
    """

    concurrency: int = DEFAULT_CONCURRENCY
    batch_size: int = DEFAULT_BATCH_SIZE
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    max_poll_seconds: float = DEFAULT_MAX_POLL_SECONDS
    poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    function_name: str = DEFAULT_FUNCTION_NAME
    compile: CompileMode = DEFAULT_COMPILE
    allow_data_loss: bool = False
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    use_notify: bool = True
    sync_threads: int | None = None
    maintenance_interval: float = DEFAULT_MAINTENANCE_INTERVAL
    max_pool_size: int | None = None
    max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES
    batch_completions: bool = True
    claim_next_tasks: bool = True
    check_idle_after: float = DEFAULT_CHECK_IDLE_AFTER
    recover_dead_workers: bool = DEFAULT_RECOVER_DEAD_WORKERS
    dead_worker_timeout: float | None = None
    schedule_tick_interval: float | None = DEFAULT_SCHEDULE_TICK_INTERVAL
    schedule_clock: Callable[[], datetime] | None = None
    metrics_port: int | None = None
    retention: timedelta | None = DEFAULT_RETENTION

    def __post_init__(self) -> None:
        for name in ("concurrency", "batch_size", "visibility_timeout", "poll_interval_ms"):
            value = getattr(self, name)
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name in ("max_poll_seconds", "shutdown_grace", "maintenance_interval", "check_idle_after"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.heartbeat_interval <= 0:
            raise ValueError(f"heartbeat_interval must be > 0, got {self.heartbeat_interval}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be 'auto', 'verify' or 'off', got {self.compile!r}")
        if self.sync_threads is not None and self.sync_threads < 1:
            raise ValueError(f"sync_threads must be >= 1, got {self.sync_threads}")
        tick = self.schedule_tick_interval
        if tick is not None and tick < 0:
            raise ValueError(f"schedule_tick_interval must be >= 0 (0 or None: no ticking), got {tick}")
        if self.schedule_clock is not None and not callable(self.schedule_clock):
            raise ValueError(f"schedule_clock must be a callable returning a datetime, got {self.schedule_clock!r}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port must be a TCP port (0-65535; 0: any free port), got {self.metrics_port}")
        if self.retention is not None and (not isinstance(self.retention, timedelta) or self.retention <= timedelta(0)):
            raise ValueError(f"retention must be a positive timedelta, got {self.retention!r}")
        if self.retention is not None and self.maintenance_interval == 0:
            raise ValueError("retention needs maintenance sweeps: maintenance_interval must be > 0")
        if self.max_pool_size is not None and self.max_pool_size < 0:  # 0: the default size
            raise ValueError(f"max_pool_size must be >= 0, got {self.max_pool_size}")
        if self.dead_worker_timeout is not None and not self.dead_worker_timeout > self.heartbeat_interval:
            raise ValueError(
                f"dead_worker_timeout must be longer than heartbeat_interval ({self.heartbeat_interval}), "
                f"got {self.dead_worker_timeout}: a live worker would be declared dead between two heartbeats"
            )

    @property
    def dead_after(self) -> float:
        """Seconds without a heartbeat after which a worker is dead (``dead_worker_timeout``)."""
        if self.dead_worker_timeout is not None:
            return self.dead_worker_timeout
        return DEFAULT_DEAD_WORKER_HEARTBEATS * self.heartbeat_interval

    @property
    def recovery_interval(self) -> float:
        """Seconds between dead-worker sweeps: a heartbeat interval, or the maintenance interval
        when that is shorter."""
        return min(self.heartbeat_interval, self.maintenance_interval)

    @property
    def threads(self) -> int:
        """Threads of the sync handlers' pool."""
        return self.sync_threads or self.concurrency

    def pool_size(self, flow_count: int) -> int:
        """Most pooled connections: a poller per flow, reports, heartbeats and maintenance."""
        return self.max_pool_size or (flow_count + min(self.concurrency, 10) + 2)
