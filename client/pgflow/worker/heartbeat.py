"""The heartbeat service: beats from a thread of its own, on a connection of its own.

Other workers judge this one dead when its heartbeat stops (``pgflow.requeue_dead_worker_tasks``
requeues its tasks), so nothing this worker does while busy may hold the heartbeat up: not a
handler blocking the event loop (CPU-bound code in an ``async def``), not a CPU-bound sync
handler in the thread pool, not a pool whose connections are all taken. A thread that sleeps on
an ``Event`` and writes one short UPDATE per worker row gets the GIL back within the
interpreter's switch interval (5 ms) from any pure-Python code. (A C extension that holds the
GIL for longer than ``dead_worker_timeout`` without releasing it still stops it: give such a
worker a longer ``dead_worker_timeout``.)

Per tick, every ``interval`` seconds: ``HEARTBEAT`` for each worker row not deprecated. A row
found deprecated is reported to ``on_deprecated(flow_slug)`` on the loop; a missing row is
registered again by ``register(flow_slug)`` on the loop. A database error closes the connection;
the next beat opens a new one, after a backoff shorter than the interval (so a restarted server
sees the heartbeat again within a fraction of a second). Any other error ends the thread, and the
service dies with it (which stops the worker).

:meth:`Heartbeat.steady_for` says how long the heartbeat has gone through without a failure
(since the service started, or since its last failed beat). The worker judges other workers dead
only once it has been steady for ``dead_worker_timeout``: after an outage that stopped every
worker's heartbeat (a server restart, a failover, a network cut on this side), every worker gets
that long to beat again before any is judged by this one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Container, Coroutine, Mapping
from typing import Any

import psycopg

from pgflow.client import PgflowSqlClient
from pgflow.errors import PgflowError, WorkerNotFound
from pgflow.worker.connections import CONNECT_TIMEOUT
from pgflow.worker.retry import backoff

__all__ = ["Heartbeat"]

logger = logging.getLogger(__name__)

_JOIN_TIMEOUT = 5.0  # seconds the service waits, when cancelled, for the thread to close its connection


class Heartbeat:
    """The heartbeat service (``name`` and ``async run()``, see :mod:`pgflow.worker.services`)."""

    name = "heartbeat"

    def __init__(
        self,
        dsn: str,
        worker_ids: Mapping[str, uuid.UUID],
        interval: float,
        deprecated: Container[str],
        on_deprecated: Callable[[str], None],
        register: Callable[[str], Coroutine[Any, Any, None]],
    ) -> None:
        self._dsn = dsn
        self._worker_ids = dict(worker_ids)
        self._interval = interval
        self._deprecated = deprecated
        self._on_deprecated = on_deprecated
        self._register = register
        self._halt = threading.Event()
        self.beats = 0
        """Heartbeats written (all rows), for monitoring and tests."""
        self.failed_beats = 0
        """Heartbeats that failed (database errors), for monitoring and tests."""
        self.steady_since = time.monotonic()
        """``time.monotonic()`` of the service's start or of its last failed beat."""

    def steady_for(self) -> float:
        """Seconds since the service started or a beat last failed."""
        return time.monotonic() - self.steady_since

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()

        def report_end(exc: BaseException | None) -> None:
            if not ended.done():
                if exc is None:
                    ended.set_result(None)
                else:
                    ended.set_exception(exc)

        def main() -> None:
            failure: BaseException | None = None
            try:
                self._beat_until_halted(loop)
            except BaseException as exc:  # reported to the service, which dies with it
                failure = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                loop.call_soon_threadsafe(report_end, failure)

        self._halt.clear()
        self.steady_since = time.monotonic()
        thread = threading.Thread(target=main, name="pgflow-heartbeat", daemon=True)
        thread.start()
        try:
            await asyncio.shield(ended)
        finally:
            self._halt.set()
            if not ended.done():
                # cancelled: let the thread finish its beat and close its connection
                with contextlib.suppress(Exception, asyncio.CancelledError):  # the first cancel still propagates
                    await asyncio.wait_for(asyncio.shield(ended), _JOIN_TIMEOUT)

    def _beat_until_halted(self, loop: asyncio.AbstractEventLoop) -> None:
        conn: psycopg.Connection[Any] | None = None
        reported: set[str] = set()  # deprecated rows already reported to the loop
        failures = 0
        try:
            while not self._halt.wait(min(self._interval, backoff(failures)) if failures else self._interval):
                failed = False
                for slug, wid in self._worker_ids.items():
                    if slug in self._deprecated or slug in reported or self._halt.is_set():
                        continue
                    try:
                        if conn is None or conn.closed:
                            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT))
                        deprecated = PgflowSqlClient(conn).heartbeat(wid)
                    except WorkerNotFound:
                        logger.warning("worker row missing in pgflow.workers, registering again",
                                       extra={"flow_slug": slug, "worker_id": str(wid)})
                        self._register_on_loop(loop, slug)
                        continue
                    except (PgflowError, psycopg.Error, OSError) as exc:
                        logger.warning("heartbeat failed: %s", exc, extra={"flow_slug": slug, "worker_id": str(wid)})
                        self.steady_since = time.monotonic()
                        self.failed_beats += 1
                        failed = True
                        if conn is not None:
                            conn.close()
                            conn = None
                        continue
                    self.beats += 1
                    if deprecated:
                        reported.add(slug)
                        loop.call_soon_threadsafe(self._on_deprecated, slug)
                failures = failures + 1 if failed else 0
        finally:
            if conn is not None:
                conn.close()

    def _register_on_loop(self, loop: asyncio.AbstractEventLoop, slug: str) -> None:
        """Register the row again on the loop (the registrar's bookkeeping lives there), without
        waiting: the next beat finds the row, or tries again."""
        done = asyncio.run_coroutine_threadsafe(self._register(slug), loop)

        def log_failure(f: concurrent.futures.Future[None]) -> None:
            if not f.cancelled() and f.exception() is not None:
                logger.warning("registering the worker row again failed: %s", f.exception(), extra={"flow_slug": slug})

        done.add_done_callback(log_failure)
