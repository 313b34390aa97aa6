"""LISTEN on demand: the connection that wakes idle pollers when task messages become visible.

SQL notifies channel ``pgflow_tasks`` (payload: the flow slug) when it makes task messages
visible. LISTEN is in effect only while a poller waits for work, and for LISTEN_HOLD seconds
after one last did: a busy worker's backend is not woken by every NOTIFY in the database, nor
the worker by every wake-up. While the connection is up (:attr:`Listener.connected`), pollers
read and start in one non-blocking call and sleep between polls until woken; while it is down
they poll with ``pgmq.read_with_poll`` instead. A lost connection is opened again with backoff,
and every poller is woken to catch up on what was missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import psycopg

from pgflow import queries
from pgflow.worker.retry import backoff

__all__ = ["LISTEN_HOLD", "LISTEN_ON_TIMEOUT", "Listener"]

logger = logging.getLogger(__name__)

LISTEN_HOLD: Final = 0.5
"""Seconds LISTEN is kept after the last poller stopped waiting for work."""
LISTEN_ON_TIMEOUT: Final = 2.0
"""Seconds a poller waits for LISTEN to be (back) in effect before it polls instead."""


class Listener:
    """The LISTEN connection, a worker service (:meth:`run`)."""

    name = "listen"

    def __init__(self, dsn: str, flow_slugs: Iterable[str]) -> None:
        self._dsn = dsn
        self._wakeups: dict[str, asyncio.Event] = {slug: asyncio.Event() for slug in flow_slugs}
        self.connected = False  # the connection is up: pollers read-and-start and wait to be woken
        self._active = False  # ... and LISTEN is in effect on it
        self._on = asyncio.Event()  # set while active
        self._wanted = asyncio.Event()  # a poller going idle asks for LISTEN
        self._idle_pollers = 0
        self._last_idle = 0.0

    @property
    def active(self) -> bool:
        """LISTEN is in effect."""
        return self._active

    def wakeup(self, flow_slug: str) -> asyncio.Event:
        """Set when a notification for this flow arrives (a poller clears it before it reads)."""
        return self._wakeups[flow_slug]

    async def wait_active(self, timeout: float = LISTEN_ON_TIMEOUT) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._on.wait(), timeout)

    async def idle(self, wait_for_work: Callable[[], Awaitable[None]]) -> None:
        """A poller found nothing: run ``wait_for_work`` (which waits on its wake-up event). When
        LISTEN was dropped while every poller was busy, it is asked back and the poller returns
        at once to read again: what was sent before LISTEN took effect is visible to that read,
        anything sent after it notifies."""
        self._idle_pollers += 1
        try:
            if not self._active:
                self._wanted.set()
                await self.wait_active()
                if self._active:
                    return
            await wait_for_work()
        finally:
            self._idle_pollers -= 1
            self._last_idle = asyncio.get_running_loop().time()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await self._set_listen(conn, True)
                    self.connected = True
                    failures = 0
                    self._wake_all()  # catch up on what was missed while down
                    await self._listen_on_demand(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                logger.warning("LISTEN connection lost (%s); polling until it is back", exc)
            finally:
                self.connected = False
                self._active = False
                self._on.clear()
                self._wake_all()  # idle pollers switch to read_with_poll
            await asyncio.sleep(backoff(failures))

    def _wake_all(self) -> None:
        for event in self._wakeups.values():
            event.set()

    async def _listen_on_demand(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Deliver wake-ups while a poller waits for work (or did within LISTEN_HOLD); UNLISTEN
        while all are busy, and LISTEN again as soon as one goes idle."""
        loop = asyncio.get_running_loop()
        while True:
            if self._active:
                async for note in conn.notifies(timeout=LISTEN_HOLD / 2):
                    woken = self._wakeups.get(note.payload)
                    if woken is not None:
                        woken.set()
                if self._idle_pollers == 0 and loop.time() - self._last_idle > LISTEN_HOLD:
                    await self._set_listen(conn, False)
            else:
                self._wanted.clear()
                if self._idle_pollers == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wanted.wait(), LISTEN_HOLD)
                if self._idle_pollers > 0:
                    await self._set_listen(conn, True)
                else:
                    await conn.execute(queries.WORKER_PING)  # a connection that died while unused shows here

    async def _set_listen(self, conn: psycopg.AsyncConnection[Any], on: bool) -> None:
        if on:
            await conn.execute(queries.LISTEN_TASKS)
            self._active = True
            self._on.set()
        else:
            self._active = False
            self._on.clear()
            await conn.execute(queries.UNLISTEN_TASKS)
