"""Live updates: one LISTEN connection on the `pgflow` channel per dashboard, fanned out to the
browsers watching a run through server-sent events.

The :class:`Notifier` owns the connection (opened in the app's lifespan) and hands each event to
the subscribers of its run, and each run-level event (run:started, run:completed, ...) to those
watching every run (the runs list). A subscriber is a bounded queue; a
browser too slow to drain it gets one "resync" instead of the backlog (its page refetches the run
anyway). When the connection drops the notifier reconnects with a growing pause and tells every
subscriber to resync, since events may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgflow import queries

logger = logging.getLogger(__name__)

QUEUE_SIZE = 256
KEEPALIVE_SECONDS = 15.0
RECONNECT_MAX_SECONDS = 10.0
STREAM_MAX_SECONDS = 300.0  # a stream ends after this; EventSource reconnects by itself
ALL_RUNS = "*"


@dataclass(eq=False)
class Subscription:
    key: str
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))


class Notifier:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._subs: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pgflow-ui-notifier")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def connected(self) -> bool:
        """The LISTEN is in place (/healthz says so)."""
        return self._connected.is_set()

    def subscribe(self, run_id: str | None) -> Subscription:
        sub = Subscription(run_id or ALL_RUNS)
        self._subs.setdefault(sub.key, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.key]

    def _deliver(self, event: dict[str, Any]) -> None:
        run_id = event.get("run_id")
        name = event.get("event")
        # those watching every run get the runs' own transitions, not each step's
        targets = list(self._subs.get(ALL_RUNS, ())) if isinstance(name, str) and name.startswith("run:") else []
        if isinstance(run_id, str):
            targets += self._subs.get(run_id, ())
        for sub in targets:
            self._offer(sub, event)

    def _resync_all(self) -> None:
        for subs in list(self._subs.values()):
            for sub in subs:
                self._offer(sub, {"event": "resync"})

    @staticmethod
    def _offer(sub: Subscription, event: dict[str, Any]) -> None:
        try:
            sub.queue.put_nowait(event)
        except asyncio.QueueFull:  # too slow: drop the backlog, ask for one refetch
            while not sub.queue.empty():
                sub.queue.get_nowait()
            sub.queue.put_nowait({"event": "resync"})

    async def _run(self) -> None:
        pause = 0.5
        lost = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await conn.execute(queries.UI_LISTEN_EVENTS)
                    if lost:  # events may have gone by unheard: every page refetches
                        self._resync_all()
                    lost = False
                    self._connected.set()
                    pause = 0.5
                    async for note in conn.notifies():
                        try:
                            event = json.loads(note.payload)
                        except ValueError:
                            logger.warning("pgflow event that is not JSON ignored: %.200s", note.payload)
                            continue
                        if isinstance(event, dict):
                            self._deliver(event)
            except psycopg.Error as exc:
                logger.warning("dashboard's LISTEN connection lost (%s); reconnecting in %.1f s", exc, pause)
            except Exception:  # a bug here must not end live updates for good; cancellation passes
                logger.exception("dashboard's event listener failed; restarting it in %.1f s", pause)
            lost = True
            self._connected.clear()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_MAX_SECONDS)


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event. JSON has no raw newlines, so one data line is enough."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream(notifier: Notifier, run_id: str | None) -> AsyncIterator[str]:
    """The event stream of one browser: a hello, then each event of the run (or of every run),
    with a comment line every KEEPALIVE_SECONDS so that dead connections are noticed."""
    sub = notifier.subscribe(run_id)
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_MAX_SECONDS
    try:
        yield "retry: 2000\n" + sse("hello", {"run_id": run_id})
        while (left := ends - loop.time()) > 0:
            try:
                event = await asyncio.wait_for(sub.queue.get(), min(KEEPALIVE_SECONDS, left))
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            name = "resync" if event.get("event") == "resync" else "pgflow"
            yield sse(name, {k: event[k] for k in ("event", "run_id", "step_slug", "status") if k in event})
    finally:
        notifier.unsubscribe(sub)
