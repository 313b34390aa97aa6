"""Rows of the operational functions: dead workers' tasks, stalled-task failures, schedules."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pgflow.types._base import (
    RunStatus,
    StepStatus,
    _req_ts,
    _ts,
    _uuid,
)


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


