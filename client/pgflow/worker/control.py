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
from types import TracebackType
from typing import Any, Final

__all__ = ["DEFAULT_FLOW_TIMEOUT", "Deadlines", "RetryAfter", "TaskDeadline", "retry_after_seconds", "step_timeout"]

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


class Deadlines:
    """The deadlines of the handlers running on one event loop, kept on ONE timer for all of them
    (a per-task ``asyncio.timeout`` would schedule and cancel a timer per task, and wrap every
    handler in an async context manager). The timer is set for the earliest deadline known when
    it was set; when it fires it cancels the handlers whose deadline has passed and sets itself
    for the earliest one left. Deadlines only move later, so the timer is never late; a task that
    returns just leaves the set. Used on the loop's thread only."""

    __slots__ = ("_held", "_loop", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._held: set[TaskDeadline] = set()
        self._timer: asyncio.TimerHandle | None = None

    def deadline(self, timeout: int) -> TaskDeadline:
        """A deadline ``timeout`` seconds from now, held while its ``with`` block runs."""
        return TaskDeadline(timeout, self)

    def __len__(self) -> int:
        return len(self._held)

    def _hold(self, deadline: TaskDeadline) -> None:
        self._held.add(deadline)
        timer = self._timer
        if timer is None or deadline.at < timer.when():
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline.at, self._expire)

    def _let_go(self, deadline: TaskDeadline) -> None:
        # The timer stays set even when nothing is held any more: tasks that come and go (the
        # common case: handlers far quicker than their timeout) then cost no timer at all, and
        # the timer fires, finding nothing due, at most once per timeout.
        self._held.discard(deadline)

    def _expire(self) -> None:
        self._timer = None
        now = self._loop.time()
        due = [d for d in self._held if d.at <= now]
        for d in due:
            self._held.discard(d)
            d._cancel()
        if self._held:
            self._timer = self._loop.call_at(min(d.at for d in self._held), self._expire)


class TaskDeadline:
    """One running task's deadline on the event loop's clock: ``timeout`` seconds from when it is
    made, moved later (never earlier) by :meth:`extend`. Its ``with`` block is where the handler
    runs: past the deadline the task is cancelled and the block raises TimeoutError (as
    ``asyncio.timeout`` does); :attr:`expired` tells that TimeoutError from one the handler
    raised. Made by :meth:`Deadlines.deadline`."""

    __slots__ = ("_cancelling", "_deadlines", "_expired", "_task", "at", "timeout")

    def __init__(self, timeout: int, deadlines: Deadlines) -> None:
        self.timeout = timeout
        self._deadlines = deadlines
        self.at: float = deadlines._loop.time() + timeout
        """When it expires, on the loop's clock."""
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0
        self._expired = False

    def __enter__(self) -> TaskDeadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a task deadline must be entered inside an asyncio task")
        self._task = task
        self._cancelling = task.cancelling()
        self._deadlines._hold(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._deadlines._let_go(self)
        task = self._task
        self._task = None
        if (
            self._expired
            and exc_type is asyncio.CancelledError
            and task is not None
            and task.uncancel() <= self._cancelling
        ):
            raise TimeoutError from exc

    def _cancel(self) -> None:
        if self._task is not None:
            self._expired = True
            self._task.cancel()

    @property
    def expired(self) -> bool:
        """The deadline passed while the handler ran (and cancelled it)."""
        return self._expired

    def extend(self, seconds: float) -> None:
        """At least ``seconds`` from now (on the loop's thread). The shared timer needs no
        change: it fires no later than this deadline's old value, and looks again then."""
        self.at = max(self.at, self._deadlines._loop.time() + seconds)

    def message(self, step_slug: str) -> str:
        return f"TimeoutError: step {step_slug} exceeded its timeout of {self.timeout} s"
