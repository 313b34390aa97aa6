"""The error hierarchy: every error this package raises is a PgflowError.

SQL errors are turned into domain errors in one place, :func:`map_sql_error`, which the SQL
client calls around every statement. The original psycopg exception stays the ``__cause__``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors


class PgflowError(Exception):
    """Root of all pgflow errors."""


class SchemaVersionError(PgflowError):
    """The database schema is missing, behind, or ahead of what this client understands."""


class MigrationError(PgflowError):
    """Applying migrations failed, or the applied history does not match the shipped files."""


class DatabaseError(PgflowError):
    """A SQL error with no more specific meaning. ``sqlstate`` is the PostgreSQL error code."""

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class TransientDatabaseError(DatabaseError):
    """The connection was lost, the server is restarting or a transaction hit a serialization
    failure or deadlock: retrying the same call later is expected to work."""


class FlowNotFound(PgflowError, LookupError):
    """The flow (or its pgmq queue) does not exist in the database."""


class StepNotFound(PgflowError, LookupError):
    """The step does not exist in the flow."""


class RunNotFound(PgflowError, LookupError):
    """No run with that id."""


class TaskNotFound(PgflowError, LookupError):
    """No task with that run, step and index (run control: ``extend_task_timeout``)."""


class RunStateError(PgflowError):
    """The run is not in a state that allows the call (run control: retrying a run that is
    neither failed nor cancelled)."""


class WorkerNotFound(PgflowError, LookupError):
    """The worker id has no row in pgflow.workers (start_tasks needs one)."""


class InvalidInput(PgflowError, ValueError):
    """A value passed to the SQL API was rejected: bad flow input, malformed id, a value that
    PostgreSQL cannot store."""


class InvalidOutput(InvalidInput):
    """A task output that cannot be stored: not JSON-serialisable, or over the size limit.
    Raised by the client before any SQL runs."""


class FlowShapeMismatch(PgflowError):
    """The flow compiled in the database differs from the flow defined in code."""

    def __init__(self, flow_slug: str, differences: Sequence[str], hint: str = "") -> None:
        self.flow_slug = flow_slug
        self.differences = tuple(differences)
        lines = "\n".join(f"  - {d}" for d in self.differences)
        super().__init__(
            f"flow {flow_slug!r} in the database differs from its definition in code:\n{lines}"
            + (f"\n{hint}" if hint else "")
        )


class ScheduleNotFound(PgflowError, LookupError):
    """No schedule with that slug."""


class InvalidSchedule(InvalidInput):
    """A schedule's settings were refused: a bad slug, cron expression, time zone, input or
    policy, a flow that cannot be scheduled, or a slug already taken. The message names what."""


class IdempotencyConflict(InvalidInput):
    """``start_flow_idempotent``: the idempotency key was used before with a different input."""


class RunTimeout(PgflowError, TimeoutError):
    """wait_for_run gave up before the run finished."""


# Constraint name -> the domain error its violation means.
_CONSTRAINT_ERRORS: dict[str, type[PgflowError]] = {
    "runs_flow_slug_fkey": FlowNotFound,
    "steps_flow_slug_fkey": FlowNotFound,
    "step_states_flow_slug_step_slug_fkey": StepNotFound,
    "step_tasks_run_id_step_slug_fkey": StepNotFound,
    "step_tasks_run_id_fkey": RunNotFound,
    "step_states_run_id_fkey": RunNotFound,
    "step_tasks_last_worker_id_fkey": WorkerNotFound,
}


def _describe(context: dict[str, Any]) -> str:
    parts = [f"{k} {v!r}" if isinstance(v, str) else f"{k} {v}" for k, v in context.items() if v is not None]
    return f" ({', '.join(parts)})" if parts else ""


def _run_control_error(sqlstate: str | None, primary: str) -> type[PgflowError] | None:
    """The domain error of a run-control function's own exception (their SQL headers list them)."""
    if sqlstate == "P0002":  # no_data_found: `Run <id> not found`, `Task <run>/<step>/<i> not found`, ...
        if primary.startswith("Run "):
            return RunNotFound
        if primary.startswith("Task "):
            return TaskNotFound
        if primary.startswith("Step "):
            return StepNotFound
        if primary.startswith("Flow "):
            return FlowNotFound
    if sqlstate == "55000" and primary.startswith("Run "):  # object_not_in_prerequisite_state
        return RunStateError
    if sqlstate == "22023" and primary.startswith("Idempotency key ") and "different input" in primary:
        return IdempotencyConflict
    return None


def map_sql_error(exc: psycopg.Error, **context: Any) -> PgflowError:
    """Translate a psycopg error into the pgflow error it means. ``context`` (flow_slug=...,
    run_id=..., step_slug=...) is appended to the message so the error names what failed.
    The caller raises the result ``from exc``."""
    sqlstate = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    primary = (diag.message_primary if diag is not None else None) or str(exc).strip()
    where = _describe(context)
    run_control = _run_control_error(sqlstate, primary)  # before the transient test: 55000 is operational
    if run_control is not None:
        return run_control(f"{primary}{where}")

    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) or sqlstate in (
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "55P03",  # lock_not_available
    ):
        if sqlstate == "57014":  # query_canceled (an OperationalError) is not retried blindly
            return DatabaseError(f"{primary}{where}", sqlstate=sqlstate)
        return TransientDatabaseError(f"database unavailable: {primary}{where}", sqlstate=sqlstate)

    constraint = diag.constraint_name if diag is not None else None
    if constraint in _CONSTRAINT_ERRORS:
        cls = _CONSTRAINT_ERRORS[constraint]
        what = {
            FlowNotFound: "flow not found",
            StepNotFound: "step not found",
            RunNotFound: "run not found",
            WorkerNotFound: "worker not registered in pgflow.workers",
        }[cls]
        return cls(f"{what}{where}: {primary}")

    if isinstance(exc, pg_errors.UndefinedFunction) and "pgflow." in primary:
        return SchemaVersionError(
            f"{primary}: the pgflow schema is missing or older than this client; run `pgflow migrate --dsn <url>`"
        )
    if isinstance(exc, pg_errors.UndefinedTable) and "pgmq.q_" in primary:
        return FlowNotFound(f"no pgmq queue for this flow{where}: {primary}")
    if isinstance(exc, pg_errors.RaiseException) and (
        "has root map steps" in primary or (primary.startswith("Flow ") and "input" in primary)
    ):
        return InvalidInput(f"{primary}{where}")
    if isinstance(exc, pg_errors.RaiseException):
        schedule_error = _schedule_error(primary)
        if schedule_error is not None:
            return schedule_error(f"{primary}{where}")
    if isinstance(exc, pg_errors.RaiseException) and primary.startswith("Run not found"):
        return RunNotFound(f"{primary}{where}")
    if isinstance(exc, pg_errors.NotNullViolation) and diag is not None and diag.column_name == "input":
        return InvalidInput(f"flow input must not be NULL{where}")
    if isinstance(exc, pg_errors.DataError):  # 22xxx: bad uuid text, NUL in text, bad JSON ...
        return InvalidInput(f"{primary}{where}")
    return DatabaseError(f"{primary}{where}", sqlstate=sqlstate)


# The schedule functions' RAISE texts (sql/*schedule*.sql, cron_next) -> the error they mean.
_SCHEDULE_NOT_FOUND = re.compile(r'^schedule (".*"|NULL) does not exist$', re.S)
_FLOW_NOT_FOUND = re.compile(r'^flow (".*"|NULL) does not exist$', re.S)
_INVALID_SCHEDULE = re.compile(
    r'^(invalid schedule slug |invalid cron expression|unknown time zone|cron expression ".*" matches no time'
    r'|schedule ".*" already exists|schedule input must be|overlap_policy must be|catchup_policy must be'
    r'|catchup_window must be|enabled must be|flow ".*" has a root map step)',
    re.S,
)


def _schedule_error(primary: str) -> type[PgflowError] | None:
    if _SCHEDULE_NOT_FOUND.match(primary):
        return ScheduleNotFound
    if _FLOW_NOT_FOUND.match(primary):
        return FlowNotFound
    if _INVALID_SCHEDULE.match(primary):
        return InvalidSchedule
    return None
