"""The worker's connections: its pool (tested on borrow after an idle spell) and its own warm
connection for the two per-batch calls (read-and-start, completion batch). Both decode json and
jsonb with :class:`JsonTextLoader` (a started task's row holds three jsonb values)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

__all__ = ["CONNECT_TIMEOUT", "HotConnection", "JsonTextLoader", "JsonbTextLoader", "open_pool", "use_json_text_loader"]

CONNECT_TIMEOUT: Final = 10.0
"""Seconds to open the worker's own connection (the pool waits as long for one)."""


OnConnect = Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]

_JSON = json.JSONDecoder()


class JsonTextLoader(Loader):
    """json in text format, as psycopg's own loader reads it (``json.loads``) at less cost: the
    server's UTF-8 text goes straight to the decoder, without a copy to ``bytes`` and
    ``json.loads``' guess of the encoding."""

    def load(self, data: Buffer) -> Any:
        return _JSON.decode(str(data, "utf-8"))


class JsonbTextLoader(Loader):
    """jsonb in text format: as :class:`JsonTextLoader`, and without the decoder's look for
    whitespace around the value, of which PostgreSQL's jsonb output has none (a text that is not
    one whole JSON value, which jsonb never sends, still goes through the full decode, whose
    error json.loads would raise)."""

    def load(self, data: Buffer) -> Any:
        text = str(data, "utf-8")
        try:
            value, end = _JSON.raw_decode(text)
        except ValueError:
            return _JSON.decode(text)
        return value if end == len(text) else _JSON.decode(text)


def use_json_text_loader(conn: psycopg.AsyncConnection[Any]) -> None:
    """Decode json and jsonb results on ``conn`` with :class:`JsonTextLoader` and
    :class:`JsonbTextLoader`."""
    conn.adapters.register_loader("jsonb", JsonbTextLoader)
    conn.adapters.register_loader("json", JsonTextLoader)


def open_pool(
    dsn: str, max_size: int, name: str, check_idle_after: float, on_connect: OnConnect | None = None
) -> AsyncConnectionPool[Any]:
    """The worker's pool (not opened yet). On borrow, a connection returned moments ago is known
    good; one idle longer than ``check_idle_after`` (or new) is tested with a round trip, which
    catches connections a restart or pg_terminate_backend closed while idle. A connection that
    breaks in use fails its query, which the callers retry (transient error) and the pool then
    discards. ``on_connect`` is called with each new connection."""
    returned_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    async def check(conn: psycopg.AsyncConnection[Any]) -> None:
        used = returned_at.get(conn)
        if used is None or time.monotonic() - used > check_idle_after:
            await AsyncConnectionPool.check_connection(conn)

    async def reset(conn: psycopg.AsyncConnection[Any]) -> None:
        returned_at[conn] = time.monotonic()

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        use_json_text_loader(conn)
        if on_connect is not None:
            await on_connect(conn)

    return AsyncConnectionPool(
        dsn,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=False,
        timeout=CONNECT_TIMEOUT,
        check=check,
        reset=reset,
        configure=configure,
        name=name,
    )


async def _alive(conn: psycopg.AsyncConnection[Any]) -> bool:
    """One round trip on a connection that has been idle: False if it is gone."""
    try:
        await AsyncConnectionPool.check_connection(conn)
    except asyncio.CancelledError:
        raise
    except Exception:
        return False
    return True


class HotConnection:
    """The connection of the worker's two per-batch calls (read-and-start, completion batch).
    They follow each other, so one backend serves both and stays warm (its caches, its prepared
    statements) instead of the pool handing them out in turn. Opened on first use; tested with a
    round trip when it has been idle over ``check_idle_after`` seconds (as the pool's connections
    are); closed when that test or a call on it fails with a connection error, and opened again
    by the next call."""

    def __init__(self, dsn: str, check_idle_after: float, on_connect: OnConnect | None = None) -> None:
        self._dsn = dsn
        self._on_connect = on_connect
        self._check_idle_after = check_idle_after
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._used = 0.0
        self._users = 0
        self._opening = asyncio.Lock()  # two callers finding no connection open one, not two

    @property
    def backend_pid(self) -> int | None:
        """The server process of the connection while it is open (for monitoring and tests)."""
        conn = self._conn
        return None if conn is None or conn.closed else conn.info.backend_pid

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        # Both callers may hold it at once (psycopg runs their queries one after the other); it is
        # replaced only when nobody holds it, or by a caller whose query broke it.
        async with self._opening:
            conn = self._conn
            if conn is not None and self._users == 0 and (
                conn.closed
                or (time.monotonic() - self._used > self._check_idle_after and not await _alive(conn))
            ):
                await self._drop(conn)
                conn = None
            if conn is None:
                new = await asyncio.wait_for(
                    psycopg.AsyncConnection.connect(self._dsn, autocommit=True), CONNECT_TIMEOUT
                )
                self._conn = conn = new
                use_json_text_loader(new)
                if self._on_connect is not None:
                    await self._on_connect(new)
            self._users += 1
        assert conn is not None
        try:
            yield conn
        except BaseException:
            if conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
                await self._drop(conn)
            raise
        finally:
            self._users -= 1
            self._used = time.monotonic()

    async def _drop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._conn is conn:
            self._conn = None
        with contextlib.suppress(Exception):
            await conn.close()

    async def close(self) -> None:
        if self._conn is not None:
            await self._drop(self._conn)
