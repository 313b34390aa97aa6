"""Waiting on a condition, not on the clock: the suite's poll-with-deadline helpers, one for plain
code and one for code running on an event loop (a worker in the same process keeps running)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(
    what: str, probe: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05,
    on_idle: Callable[[], None] | None = None,
) -> T:
    """Poll `probe` until it returns a truthy value; return it. Fail with `what` and the last
    value after `timeout` seconds. `on_idle` runs between polls (fault helpers hook in here)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")
        if on_idle is not None:
            on_idle()
        time.sleep(interval)


async def await_until(
    what: str, probe: Callable[[], T | Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.02
) -> T:
    """:func:`wait_until` on the event loop: ``probe`` may be sync or async; the loop keeps
    running between polls. Fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(interval)
