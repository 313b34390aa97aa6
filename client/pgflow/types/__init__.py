"""Typed results of the SQL API: statuses as StrEnums, rows as frozen slotted dataclasses.

Rows come either from psycopg (native datetimes and UUIDs) or from JSON built in SQL
(``pgflow.get_run_with_states``: ISO strings); the ``from_row`` constructors accept both and
ignore columns they do not know, so a later schema that adds a column does not break them.
"""

from __future__ import annotations

from pgflow.types._base import CompileStatus, RunStatus, StepStatus, TaskStatus
from pgflow.types._context import Context
from pgflow.types._ops import DeadWorkerTask, Schedule, ScheduledRun, StalledTaskFailure
from pgflow.types._runs import CompileResult, QueueMessage, Run, RunWithStates, StepState, StepTask, TaskRow

__all__ = [
    "CompileResult",
    "CompileStatus",
    "Context",
    "DeadWorkerTask",
    "QueueMessage",
    "Run",
    "RunStatus",
    "RunWithStates",
    "Schedule",
    "ScheduledRun",
    "StalledTaskFailure",
    "StepState",
    "StepStatus",
    "StepTask",
    "TaskRow",
    "TaskStatus",
]
