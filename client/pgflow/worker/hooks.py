"""Worker hooks: the user's own code called around every task and at the end of each run.

Four kinds, each registered with a keyword of ``Worker(...)`` (a callable or a list of them), a
decorator method of the worker (``@worker.after_task``), or a :class:`Hooks` passed as ``hooks=``:

=================== =================================================================================
``before_task``     :class:`TaskStarted`, before the handler runs (awaited: a slow hook delays it)
``after_task``      :class:`TaskCompleted`, after the result was reported
``on_task_error``   :class:`TaskFailed`, after the failure was reported (handler raised, or its
                    output could not be stored)
``on_run_finished`` :class:`RunFinished`, once per run that a call of THIS worker finished
                    (completed or failed); see :mod:`pgflow.worker.runwatch`
=================== =================================================================================

A hook is ``def hook(event)`` or ``async def hook(event)``. The hooks of one event run one after
the other in registration order: async ones on the worker's loop, sync ones in a thread pool of
their own (``HOOK_THREADS`` threads, not the handlers' pool), so a slow sync hook never blocks the
loop nor takes a handler's thread. A hook that raises is logged (logger ``pgflow.worker.hooks``,
WARNING, with the hook's name and the traceback) and nothing else happens: the task's outcome,
the other hooks and the worker are untouched. After-hooks run once the task's slot is free, so
they delay only the draining of a stopping worker, not other tasks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Generic, Literal, TypeVar, cast

__all__ = [
    "HOOK_KINDS",
    "HOOK_THREADS",
    "Hook",
    "HookDecorators",
    "HookKind",
    "Hooks",
    "RunFinished",
    "TaskCompleted",
    "TaskFailed",
    "TaskStarted",
]

logger = logging.getLogger(__name__)

HOOK_THREADS: Final = 4
"""Threads that run sync hooks (created on first use)."""

HookKind = Literal["before_task", "after_task", "on_task_error", "on_run_finished"]
HOOK_KINDS: Final[tuple[HookKind, ...]] = ("before_task", "after_task", "on_task_error", "on_run_finished")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskStarted:
    """A task about to run its handler. ``attempt`` counts from 1."""

    flow_slug: str
    run_id: uuid.UUID
    step_slug: str
    task_index: int
    attempt: int
    worker_id: uuid.UUID


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskCompleted(TaskStarted):
    """A task whose output was reported. ``duration``: seconds the handler ran."""

    duration: float
    output: Any


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed(TaskStarted):
    """A failed attempt, as reported with ``pgflow.fail_task`` (retried or not, as the step's
    options say). ``error``: the exception (None when the worker itself refused the task);
    ``error_message``: what was stored."""

    duration: float
    error: BaseException | None
    error_message: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    """A run that reached ``completed`` or ``failed`` through a call of this worker. ``output``
    (completed) or ``error_message`` (failed) as the ``pgflow`` event carried them, read back
    from ``pgflow.runs`` when the event was too large for NOTIFY."""

    flow_slug: str
    run_id: uuid.UUID
    status: Literal["completed", "failed"]
    worker_id: uuid.UUID
    output: Any = None
    error_message: str | None = None


E = TypeVar("E")
Hook = Callable[[E], Awaitable[None] | None]
"""``def hook(event) -> None`` or ``async def hook(event) -> None``."""


class _Registered(Generic[E]):
    __slots__ = ("fn", "is_async", "name")

    def __init__(self, fn: Hook[E]) -> None:
        if not callable(fn):
            raise TypeError(f"a hook must be callable, got {fn!r}")
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
        )
        self.name: str = getattr(fn, "__qualname__", None) or repr(fn)


class Hooks:
    """The hooks of one worker, by kind. Register with :meth:`add` or the decorator methods."""

    def __init__(self) -> None:
        self._hooks: dict[HookKind, list[_Registered[Any]]] = {kind: [] for kind in HOOK_KINDS}
        self._threads: ThreadPoolExecutor | None = None

    def add(self, kind: HookKind, fn: Hook[Any] | Iterable[Hook[Any]]) -> None:
        """Register ``fn`` (or each of an iterable of hooks) for ``kind``."""
        if kind not in self._hooks:
            raise ValueError(f"unknown hook kind {kind!r}: expected one of {', '.join(HOOK_KINDS)}")
        fns = [fn] if callable(fn) else list(fn)
        self._hooks[kind].extend(_Registered(f) for f in fns)

    def before_task(self, fn: Hook[TaskStarted]) -> Hook[TaskStarted]:
        self.add("before_task", fn)
        return fn

    def after_task(self, fn: Hook[TaskCompleted]) -> Hook[TaskCompleted]:
        self.add("after_task", fn)
        return fn

    def on_task_error(self, fn: Hook[TaskFailed]) -> Hook[TaskFailed]:
        self.add("on_task_error", fn)
        return fn

    def on_run_finished(self, fn: Hook[RunFinished]) -> Hook[RunFinished]:
        self.add("on_run_finished", fn)
        return fn

    def has(self, kind: HookKind) -> bool:
        return bool(self._hooks[kind])

    def has_any(self) -> bool:
        return any(self._hooks.values())

    async def fire(self, kind: HookKind, event: object) -> None:
        """Run the hooks of ``kind`` with ``event``, in order; log and swallow what they raise
        (never a cancellation)."""
        for hook in self._hooks[kind]:
            try:
                if hook.is_async:
                    await cast(Awaitable[None], hook.fn(event))
                else:
                    await asyncio.get_running_loop().run_in_executor(self._pool(), hook.fn, event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "%s hook %s raised %s: %s (ignored)", kind, hook.name, type(exc).__name__, exc,
                    exc_info=exc, extra={"hook": hook.name, "hook_kind": kind, **_event_extra(event)},
                )

    def _pool(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=HOOK_THREADS, thread_name_prefix="pgflow-hook")
        return self._threads

    def close(self) -> None:
        """Let go of the hooks' threads (a sync hook still running finishes on its own)."""
        if self._threads is not None:
            self._threads.shutdown(wait=False)
            self._threads = None


def _event_extra(event: object) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for name in ("flow_slug", "run_id", "step_slug", "task_index"):
        value = getattr(event, name, None)
        if value is not None:
            extra[name] = str(value) if isinstance(value, uuid.UUID) else value
    return extra


class HookDecorators:
    """The worker's decorator methods: ``@worker.before_task`` etc. register on ``self.hooks``."""

    hooks: Hooks

    def before_task(self, fn: Hook[TaskStarted]) -> Hook[TaskStarted]:
        """Register a hook called with :class:`TaskStarted` before each handler runs."""
        return self.hooks.before_task(fn)

    def after_task(self, fn: Hook[TaskCompleted]) -> Hook[TaskCompleted]:
        """Register a hook called with :class:`TaskCompleted` after each reported result."""
        return self.hooks.after_task(fn)

    def on_task_error(self, fn: Hook[TaskFailed]) -> Hook[TaskFailed]:
        """Register a hook called with :class:`TaskFailed` after each reported failure."""
        return self.hooks.on_task_error(fn)

    def on_run_finished(self, fn: Hook[RunFinished]) -> Hook[RunFinished]:
        """Register a hook called with :class:`RunFinished` once per run this worker finished."""
        return self.hooks.on_run_finished(fn)
