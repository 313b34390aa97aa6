"""Waiting on a condition, not on the clock: the one poll-with-deadline helper of the suite."""

from __future__ import annotations

import time
from collections.abc import Callable
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
