"""Run control in the worker: a step's timeout held on its handler, the handler's own
extensions of it (``ctx.extend``), and failures that choose their retry delay (``retry_after``).

Timeouts. A task's handler may run for its step's timeout: the step's ``timeout`` option, else its
flow's, else create_flow's default (60 s), the values the flow was compiled with. When it has not
returned by then, an async handler is cancelled and a sync one abandoned (its thread cannot be
interrupted: it runs on, holding one of the pool's threads, and whatever it returns is dropped);
either way the attempt fails with ``TimeoutError: step <slug> exceeded its timeout of <n> s`` and
is retried as any failure. A handler that needs longer calls ``await ctx.extend(seconds)`` (sync
handlers: ``ctx.extend_sync(seconds)``): ``pgflow.extend_task_timeout`` moves the task's deadline
in the database (its message stays hidden, the stalled-task sweep leaves it alone) and the
worker's own deadline with it, to at least ``seconds`` from now.

Retry delays. An exception with a ``retry_after`` attribute (seconds, or a ``timedelta``) fails
its attempt through ``pgflow.fail_task_with_delay``: a retry waits that long instead of the
computed backoff. :class:`RetryAfter` is a ready-made one (``raise RetryAfter(120, "HTTP 429")``).
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Any, Final

__all__ = ["DEFAULT_FLOW_TIMEOUT", "RetryAfter", "TaskDeadline", "retry_after_seconds", "step_timeout"]

DEFAULT_FLOW_TIMEOUT: Final = 60
"""``pgflow.create_flow``'s default ``timeout`` (seconds), for a flow that sets none."""


class RetryAfter(Exception):
    """Raise from a handler to fail this attempt and have its retry wait ``seconds`` (a number or
    a ``timedelta``) instead of the computed backoff; attempts are counted as usual."""

    def __init__(self, seconds: float | timedelta, message: str = "") -> None:
        self.retry_after = seconds
        super().__init__(message or f"retry after {_seconds(seconds)} s")


def _seconds(value: float | timedelta) -> int:
    s = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return max(0, math.ceil(s))


def retry_after_seconds(exc: BaseException) -> int | None:
    """The retry delay an exception asks for (its ``retry_after``: seconds or a timedelta,
    rounded up to whole seconds), None when it asks for none or the value is not a duration."""
    value: Any = getattr(exc, "retry_after", None)
    if isinstance(value, bool) or not isinstance(value, int | float | timedelta):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return _seconds(value)


def step_timeout(flow: Any, step: Any) -> int:
    """Seconds a step's handler may run: the step's ``timeout`` option, else the flow's, else
    create_flow's default (read from pgflow.dsl's ``options``; a flow object without them gets
    the default)."""
    for owner in (step, flow):
        value = getattr(getattr(owner, "options", None), "timeout", None)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_FLOW_TIMEOUT


class TaskDeadline:
    """One running task's deadline on the event loop's clock: ``timeout`` seconds from when it is
    made, moved later (never earlier) by :meth:`extend`. :meth:`scope` is the ``asyncio.timeout``
    the handler runs in; :attr:`expired` tells its TimeoutError from one the handler raised."""

    __slots__ = ("_at", "_loop", "_scope", "timeout")

    def __init__(self, timeout: int, loop: asyncio.AbstractEventLoop) -> None:
        self.timeout = timeout
        self._loop = loop
        self._at = loop.time() + timeout
        self._scope: asyncio.Timeout | None = None

    def scope(self) -> asyncio.Timeout:
        self._scope = asyncio.timeout_at(self._at)
        return self._scope

    @property
    def expired(self) -> bool:
        return self._scope is not None and self._scope.expired()

    def extend(self, seconds: float) -> None:
        """At least ``seconds`` from now (on the loop's thread)."""
        self._at = max(self._at, self._loop.time() + seconds)
        if self._scope is not None and not self._scope.expired():
            self._scope.reschedule(self._at)

    def message(self, step_slug: str) -> str:
        return f"TimeoutError: step {step_slug} exceeded its timeout of {self.timeout} s"
