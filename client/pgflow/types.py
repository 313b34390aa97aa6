"""Typed results of the SQL API: statuses as StrEnums, rows as frozen slotted dataclasses.

Rows come either from psycopg (native datetimes and UUIDs) or from JSON built in SQL
(``pgflow.get_run_with_states``: ISO strings); the ``from_row`` constructors accept both and
ignore columns they do not know, so a later schema that adds a column does not break them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # run control (pgflow.cancel_run), beside the contract's statuses

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.STARTED


class StepStatus(StrEnum):
    CREATED = "created"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class TaskStatus(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CompileStatus(StrEnum):
    """What ``pgflow.ensure_flow_compiled`` did."""

    COMPILED = "compiled"
    VERIFIED = "verified"
    RECOMPILED = "recompiled"
    MISMATCH = "mismatch"


def _ts(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _req_ts(value: Any) -> datetime:
    ts = _ts(value)
    if ts is None:
        raise ValueError("a required timestamp is NULL")
    return ts


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _opt_uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else _uuid(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class StepTask:
    """One task handed out by ``pgflow.start_tasks`` (a ``pgflow.step_task_record``)."""

    flow_slug: str
    run_id: uuid.UUID
    step_slug: str
    input: Any
    msg_id: int
    task_index: int
    flow_input: Any
    attempts_count: int | None = None
    """The attempt this task is on (step_tasks.attempts_count after start_tasks); not part of
    pgflow.step_task_record, read by the client in start_tasks' transaction."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StepTask:
        return cls(
            flow_slug=row["flow_slug"],
            run_id=_uuid(row["run_id"]),
            step_slug=row["step_slug"],
            input=row["input"],
            msg_id=int(row["msg_id"]),
            task_index=int(row["task_index"]),
            flow_input=row["flow_input"],
            attempts_count=_opt_int(row.get("attempts_count")),
        )


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """A pgmq message (``pgmq.message_record``) as returned by ``pgmq.read``/``read_with_poll``."""

    msg_id: int
    read_ct: int
    enqueued_at: datetime
    vt: datetime
    message: Any
    headers: Any = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> QueueMessage:
        return cls(
            msg_id=int(row["msg_id"]),
            read_ct=int(row["read_ct"]),
            enqueued_at=_req_ts(row["enqueued_at"]),
            vt=_req_ts(row["vt"]),
            message=row["message"],
            headers=row.get("headers"),
        )


@dataclass(frozen=True, slots=True)
class Run:
    """A ``pgflow.runs`` row. Run control adds ``cancelled_at`` and ``retry_of_run_id`` (the run
    this one retries); ``retried_by_run_id`` (the run that retries this one) comes only from
    ``pgflow.get_run_with_states``."""

    run_id: uuid.UUID
    flow_slug: str
    status: RunStatus
    input: Any
    output: Any
    remaining_steps: int
    started_at: datetime
    completed_at: datetime | None
    failed_at: datetime | None
    cancelled_at: datetime | None = None
    retry_of_run_id: uuid.UUID | None = None
    retried_by_run_id: uuid.UUID | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Run:
        return cls(
            run_id=_uuid(row["run_id"]),
            flow_slug=row["flow_slug"],
            status=RunStatus(row["status"]),
            input=row.get("input"),
            output=row.get("output"),
            remaining_steps=int(row["remaining_steps"]),
            started_at=_req_ts(row["started_at"]),
            completed_at=_ts(row.get("completed_at")),
            failed_at=_ts(row.get("failed_at")),
            cancelled_at=_ts(row.get("cancelled_at")),
            retry_of_run_id=_opt_uuid(row.get("retry_of_run_id")),
            retried_by_run_id=_opt_uuid(row.get("retried_by_run_id")),
        )


@dataclass(frozen=True, slots=True)
class StepState:
    """A ``pgflow.step_states`` row."""

    flow_slug: str
    run_id: uuid.UUID
    step_slug: str
    status: StepStatus
    remaining_tasks: int | None
    initial_tasks: int | None
    remaining_deps: int
    output: Any
    error_message: str | None
    skip_reason: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None
    skipped_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StepState:
        return cls(
            flow_slug=row["flow_slug"],
            run_id=_uuid(row["run_id"]),
            step_slug=row["step_slug"],
            status=StepStatus(row["status"]),
            remaining_tasks=_opt_int(row.get("remaining_tasks")),
            initial_tasks=_opt_int(row.get("initial_tasks")),
            remaining_deps=int(row.get("remaining_deps") or 0),
            output=row.get("output"),
            error_message=row.get("error_message"),
            skip_reason=row.get("skip_reason"),
            created_at=_req_ts(row["created_at"]),
            started_at=_ts(row.get("started_at")),
            completed_at=_ts(row.get("completed_at")),
            failed_at=_ts(row.get("failed_at")),
            skipped_at=_ts(row.get("skipped_at")),
        )


@dataclass(frozen=True, slots=True)
class RunWithStates:
    """``pgflow.get_run_with_states``: the run and its step states (ordered by step slug)."""

    run: Run
    steps: tuple[StepState, ...]

    def step(self, step_slug: str) -> StepState:
        for s in self.steps:
            if s.step_slug == step_slug:
                return s
        raise KeyError(step_slug)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RunWithStates:
        steps = sorted((StepState.from_row(s) for s in doc.get("steps") or ()), key=lambda s: s.step_slug)
        return cls(run=Run.from_row(doc["run"]), steps=tuple(steps))


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A ``pgflow.step_tasks`` row, as returned by ``complete_task`` / ``fail_task``."""

    flow_slug: str
    run_id: uuid.UUID
    step_slug: str
    message_id: int | None
    task_index: int
    status: TaskStatus
    attempts_count: int
    error_message: str | None
    output: Any
    queued_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None
    last_worker_id: uuid.UUID | None
    requeued_count: int
    last_requeued_at: datetime | None
    permanently_stalled_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TaskRow:
        worker = row.get("last_worker_id")
        return cls(
            flow_slug=row["flow_slug"],
            run_id=_uuid(row["run_id"]),
            step_slug=row["step_slug"],
            message_id=_opt_int(row.get("message_id")),
            task_index=int(row["task_index"]),
            status=TaskStatus(row["status"]),
            attempts_count=int(row["attempts_count"]),
            error_message=row.get("error_message"),
            output=row.get("output"),
            queued_at=_req_ts(row["queued_at"]),
            started_at=_ts(row.get("started_at")),
            completed_at=_ts(row.get("completed_at")),
            failed_at=_ts(row.get("failed_at")),
            last_worker_id=None if worker is None else _uuid(worker),
            requeued_count=int(row.get("requeued_count") or 0),
            last_requeued_at=_ts(row.get("last_requeued_at")),
            permanently_stalled_at=_ts(row.get("permanently_stalled_at")),
        )


@dataclass(frozen=True, slots=True)
class CompileResult:
    """The result of ``pgflow.ensure_flow_compiled`` (or of a read-only verification)."""

    status: CompileStatus
    differences: tuple[str, ...]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CompileResult:
        return cls(CompileStatus(doc["status"]), tuple(str(d) for d in doc.get("differences") or ()))


@dataclass(frozen=True, slots=True)
class DeadWorkerTask:
    """A task of a dead worker, as ``pgflow.requeue_dead_worker_tasks`` handled it: ``outcome``
    ``requeued`` (queued again) or ``permanently_stalled`` (the requeue limit was reached)."""

    flow_slug: str
    run_id: uuid.UUID
    step_slug: str
    task_index: int
    worker_id: uuid.UUID
    last_heartbeat_at: datetime | None
    requeued_count: int
    outcome: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DeadWorkerTask:
        return cls(
            flow_slug=row["flow_slug"],
            run_id=_uuid(row["run_id"]),
            step_slug=row["step_slug"],
            task_index=int(row["task_index"]),
            worker_id=_uuid(row["worker_id"]),
            last_heartbeat_at=_ts(row.get("last_heartbeat_at")),
            requeued_count=int(row["requeued_count"]),
            outcome=row["outcome"],
        )


@dataclass(frozen=True, slots=True)
class StalledTaskFailure:
    """A task stalled past the requeue limit that ``pgflow.fail_stalled_tasks`` failed, with its
    step's and run's status afterwards."""

    flow_slug: str
    run_id: uuid.UUID
    step_slug: str
    task_index: int
    stalled_count: int
    step_status: StepStatus
    run_status: RunStatus

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StalledTaskFailure:
        return cls(
            flow_slug=row["flow_slug"],
            run_id=_uuid(row["run_id"]),
            step_slug=row["step_slug"],
            task_index=int(row["task_index"]),
            stalled_count=int(row["stalled_count"]),
            step_status=StepStatus(row["step_status"]),
            run_status=RunStatus(row["run_status"]),
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    """A ``pgflow.schedules`` row: a flow started at the times ``cron`` names in ``timezone``."""

    schedule_slug: str
    flow_slug: str
    cron: str
    timezone: str
    input: Any
    enabled: bool
    overlap_policy: str
    catchup_policy: str
    catchup_window: timedelta
    next_scheduled_start_time: datetime
    last_run_id: uuid.UUID | None
    last_scheduled_for: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Schedule:
        last_run_id = row.get("last_run_id")
        return cls(
            schedule_slug=row["schedule_slug"],
            flow_slug=row["flow_slug"],
            cron=row["cron"],
            timezone=row["timezone"],
            input=row.get("input"),
            enabled=bool(row["enabled"]),
            overlap_policy=row["overlap_policy"],
            catchup_policy=row["catchup_policy"],
            catchup_window=row["catchup_window"],
            next_scheduled_start_time=_req_ts(row["next_scheduled_start_time"]),
            last_run_id=None if last_run_id is None else _uuid(last_run_id),
            last_scheduled_for=_ts(row.get("last_scheduled_for")),
            created_at=_req_ts(row["created_at"]),
            updated_at=_req_ts(row["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """A run ``pgflow.tick_schedules`` started: which schedule, for which scheduled time."""

    schedule_slug: str
    run_id: uuid.UUID
    scheduled_for: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ScheduledRun:
        return cls(row["schedule_slug"], _uuid(row["run_id"]), _req_ts(row["scheduled_for"]))


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler that takes two parameters receives as ``ctx``.

    ``attempt`` is the message's ``read_ct`` (1 on the first delivery). ``shutdown`` is set when
    the worker starts draining: a long handler may check ``ctx.shutdown.is_set()`` (from any
    thread) or ``await ctx.shutdown.wait()`` (async handlers) and finish early.

    ``await ctx.flow_input()`` returns the run's input: the task's own ``flow_input`` when
    start_tasks sent it (root single steps), otherwise read once from ``pgflow.runs`` and cached
    per run. Sync handlers (running in the worker's thread pool) call ``ctx.flow_input_sync()``.

    ``await ctx.extend(seconds)`` (sync handlers: ``ctx.extend_sync(seconds)``) asks for more time:
    the task's deadline, in the database (``pgflow.extend_task_timeout``) and in the worker, becomes
    at least ``seconds`` from now. It returns the new deadline, or None when the task is no longer
    this worker's (completed elsewhere, requeued, its run cancelled).
    """

    run_id: uuid.UUID
    flow_slug: str
    step_slug: str
    task_index: int
    msg_id: int
    attempt: int
    worker_id: uuid.UUID
    shutdown: asyncio.Event
    task: StepTask
    message: QueueMessage | None = None
    _load_flow_input: Callable[[], Awaitable[Any]] | None = field(default=None, repr=False, compare=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False, compare=False)
    _extend: Callable[[int], Awaitable[datetime | None]] | None = field(default=None, repr=False, compare=False)

    async def extend(self, seconds: int) -> datetime | None:
        """Move this task's deadline to at least ``seconds`` from now (see the class docstring)."""
        if self._extend is None:
            raise RuntimeError("ctx.extend() needs the worker that runs the task")
        return await self._extend(seconds)

    def extend_sync(self, seconds: int, timeout: float | None = 30.0) -> datetime | None:
        """:meth:`extend` from a sync handler running in a worker thread (not on the loop)."""
        if self._loop is None:
            raise RuntimeError("ctx.extend_sync() needs the worker that runs the task")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run_coroutine_threadsafe(self.extend(seconds), self._loop).result(timeout)
        raise RuntimeError("extend_sync() called on the event loop: use `await ctx.extend(seconds)`")

    async def flow_input(self) -> Any:
        if self.task.flow_input is not None or self._load_flow_input is None:
            return self.task.flow_input
        return await self._load_flow_input()

    def flow_input_sync(self, timeout: float | None = 30.0) -> Any:
        """The run's input, from a sync handler running in a worker thread (not on the loop)."""
        if self.task.flow_input is not None or self._loop is None:
            return self.task.flow_input
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            raise RuntimeError("flow_input_sync() called on the event loop: use `await ctx.flow_input()`")
        return asyncio.run_coroutine_threadsafe(self.flow_input(), self._loop).result(timeout)
