"""Prometheus metrics of a worker (``prometheus_client``, the ``prometheus`` extra, imported only
when metrics are on: ``Worker(metrics_port=...)`` or ``Worker(metrics_registry=...)``).

=================================== ========= ===========================================================
``pgflow_tasks_completed_total``    counter   results reported, labels ``flow``, ``step``
``pgflow_tasks_failed_total``       counter   failed attempts reported (each retry counts), ``flow``, ``step``
``pgflow_task_duration_seconds``    histogram handler run time of every reported attempt, ``flow``, ``step``
``pgflow_queue_depth``              gauge     messages in the flow's queue (``pgmq.metrics``: visible,
                                              delayed and in flight), label ``flow``
=================================== ========= ===========================================================

The queue depth is read by the worker's ``metrics`` service every QUEUE_DEPTH_INTERVAL seconds
(one statement for all its flows). With ``metrics_port`` the worker serves its registry (a fresh
one per worker unless ``metrics_registry`` is given) on ``http://<any interface>:<port>/metrics``
from a daemon thread, for as long as it runs; an embedding application that already serves a
registry passes it as ``metrics_registry`` instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Final

from psycopg_pool import AsyncConnectionPool

from pgflow import queries

__all__ = ["QUEUE_DEPTH_INTERVAL", "QueueDepth", "TaskMetrics"]

logger = logging.getLogger(__name__)

QUEUE_DEPTH_INTERVAL: Final = 5.0
"""Seconds between two reads of the queue depth."""


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImportError(
            "worker metrics need prometheus-client: pip install 'pgflow-py[prometheus]'"
        ) from exc
    return prometheus_client


class TaskMetrics:
    """The worker's metrics, registered in ``registry`` (a new CollectorRegistry when None)."""

    def __init__(self, registry: Any | None = None) -> None:
        prom = _prometheus()
        self._prom = prom
        self.registry = registry if registry is not None else prom.CollectorRegistry(auto_describe=True)
        labels = ("flow", "step")
        self.completed = prom.Counter(
            "pgflow_tasks_completed", "Task results reported by this worker", labels, registry=self.registry
        )
        self.failed = prom.Counter(
            "pgflow_tasks_failed", "Failed task attempts reported by this worker", labels, registry=self.registry
        )
        self.duration = prom.Histogram(
            "pgflow_task_duration_seconds", "Run time of task handlers (seconds)", labels, registry=self.registry
        )
        self.queue_depth = prom.Gauge(
            "pgflow_queue_depth", "Messages in the flow's pgmq queue", ("flow",), registry=self.registry
        )
        self._server: Any = None

    def task_done(self, flow_slug: str, step_slug: str, duration: float, failed: bool) -> None:
        (self.failed if failed else self.completed).labels(flow_slug, step_slug).inc()
        self.duration.labels(flow_slug, step_slug).observe(duration)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Serve the registry on ``port`` (0: a free port, see :attr:`port`) until :meth:`close`."""
        started = self._prom.start_http_server(port, addr=addr, registry=self.registry)
        self._server = started[0] if isinstance(started, tuple) else None

    @property
    def port(self) -> int | None:
        """The port the registry is served on (None when not served)."""
        return None if self._server is None else int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class QueueDepth:
    """A worker service: sets ``pgflow_queue_depth`` of each flow every ``interval`` seconds."""

    name = "metrics"

    def __init__(
        self, pool: AsyncConnectionPool[Any], metrics: TaskMetrics, flow_slugs: Sequence[str],
        interval: float = QUEUE_DEPTH_INTERVAL,
    ) -> None:
        self._pool = pool
        self._metrics = metrics
        self._flows = list(flow_slugs)
        self._interval = interval

    async def refresh(self) -> None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(queries.QUEUE_DEPTHS, {"queue_names": self._flows})
            for queue_name, depth in await cur.fetchall():
                self._metrics.queue_depth.labels(queue_name).set(depth)

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.info("could not read the queue depth: %s", exc)
            await asyncio.sleep(self._interval)
