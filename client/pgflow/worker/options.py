"""The worker's options: one frozen record, validated once, with its defaults as named constants.

The ``DEFAULT_*`` constants are what ``Worker(...)`` uses when a keyword is left out; the CLI's
``--help`` quotes the same constants, so the two cannot disagree.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Final, Literal

from pgflow.client import DEFAULT_MAX_OUTPUT_BYTES

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CHECK_IDLE_AFTER",
    "DEFAULT_COMPILE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_FUNCTION_NAME",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_MAINTENANCE_INTERVAL",
    "DEFAULT_MAX_OUTPUT_BYTES",
    "DEFAULT_MAX_POLL_SECONDS",
    "DEFAULT_POLL_INTERVAL_MS",
    "DEFAULT_RETENTION",
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
    ``batch_completions`` sends results in batches (``pgflow.complete_tasks_count``), and with
    ``claim_next_tasks`` a batch also starts the tasks its results make ready
    (``pgflow.complete_tasks_and_claim``); without them every result is one ``complete_task``.

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
        if self.retention is not None and (not isinstance(self.retention, timedelta) or self.retention <= timedelta(0)):
            raise ValueError(f"retention must be a positive timedelta, got {self.retention!r}")
        if self.retention is not None and self.maintenance_interval == 0:
            raise ValueError("retention needs maintenance sweeps: maintenance_interval must be > 0")
        if self.max_pool_size is not None and self.max_pool_size < 0:  # 0: the default size
            raise ValueError(f"max_pool_size must be >= 0, got {self.max_pool_size}")

    @property
    def threads(self) -> int:
        """Threads of the sync handlers' pool."""
        return self.sync_threads or self.concurrency

    def pool_size(self, flow_count: int) -> int:
        """Most pooled connections: a poller per flow, reports, heartbeats and maintenance."""
        return self.max_pool_size or (flow_count + min(self.concurrency, 10) + 2)
