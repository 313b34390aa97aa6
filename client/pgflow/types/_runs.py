"""Rows of runs, step states and tasks, queue messages, compile results."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pgflow.types._base import (
    CompileStatus,
    RunStatus,
    StepStatus,
    TaskStatus,
    _opt_int,
    _opt_uuid,
    _req_ts,
    _ts,
    _uuid,
)


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


