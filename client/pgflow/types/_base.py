"""Statuses (StrEnums) and the row-decoding helpers the row types share."""

from __future__ import annotations

import uuid
from datetime import datetime
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


