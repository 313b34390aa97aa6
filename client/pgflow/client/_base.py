"""What both SQL clients share that does no I/O: settings, statement choice, parameters.

The async client (``_async.py``) and the sync one generated from it (``_sync.py``) call these, so
that a behaviour that does not wait on the database is written once (as psycopg keeps its
``_base`` modules).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import ExecStatus

from pgflow import queries as q
from pgflow.client._values import encode_json, sanitize_error_message, task_what
from pgflow.errors import InvalidInput, InvalidSchedule

R = TypeVar("R")
Params = Mapping[str, Any] | Sequence[Any]  # named (%(x)s) or positional (%s) query parameters
Query = LiteralString | sql.Composed


class ClientSettings:
    """The limits a client checks values against (validated once, in the constructor), and the
    parameters of the statements whose values it encodes."""

    __slots__ = ("max_error_chars", "max_output_bytes")

    def __init__(self, max_output_bytes: int | None, max_error_chars: int) -> None:
        if max_output_bytes is not None and max_output_bytes <= 0:
            raise ValueError("max_output_bytes must be positive (or None for no limit)")
        if max_error_chars <= 0:
            raise ValueError("max_error_chars must be positive")
        self.max_output_bytes = max_output_bytes
        self.max_error_chars = max_error_chars

    def complete_params(self, run_id: uuid.UUID | str, step_slug: str, task_index: int, output: Any) -> dict[str, Any]:
        text = encode_json(output, what=lambda: task_what(step_slug, task_index, run_id), limit=self.max_output_bytes)
        return {"run_id": run_id, "step_slug": step_slug, "task_index": task_index, "output": text}

    def fail_params(
        self, run_id: uuid.UUID | str, step_slug: str, task_index: int, error_message: object
    ) -> dict[str, Any]:
        msg = sanitize_error_message(error_message, self.max_error_chars)
        return {"run_id": run_id, "step_slug": step_slug, "task_index": task_index, "error_message": msg}

    def start_flow_params(self, flow_slug: str, input: Any, run_id: uuid.UUID | str | None) -> dict[str, Any]:
        text = encode_json(input, what=f"input of flow {flow_slug!r}", limit=self.max_output_bytes, error=InvalidInput)
        return {"flow_slug": flow_slug, "input": text, "run_id": run_id}


def schedule_params(
    schedule_slug: str,
    *,
    input: Any,
    max_bytes: int | None,
    catchup_window: dt.timedelta | str | None,
    **settings: Any,
) -> dict[str, Any]:
    """The named parameters of the schedule statements: ``input`` checked and encoded as JSON
    (None stays NULL: "keep" for update_schedule), ``catchup_window`` a timedelta or an interval
    text such as ``'2 hours'`` (None: NULL)."""
    text = None
    if input is not None:
        what = f"input of schedule {schedule_slug!r}"
        text = encode_json(input, what=what, limit=max_bytes, error=InvalidSchedule)
    window = catchup_window
    if window is not None and not isinstance(window, dt.timedelta | str):
        raise InvalidSchedule(f"catchup_window must be a timedelta or an interval text, got {window!r}")
    return {"schedule_slug": schedule_slug, "input": text, "catchup_window": window, **settings}


def report_query(
    plain: LiteralString, guarded: LiteralString, params: dict[str, Any], expected_attempt: int | None
) -> tuple[LiteralString, dict[str, Any]]:
    """complete_task/fail_task as is, or guarded by the attempt a replayed report names (the
    statement and its parameters)."""
    if expected_attempt is None:
        return plain, params
    return guarded, {**params, "expected_attempt": expected_attempt}


def read_query(max_poll_seconds: float) -> LiteralString:
    return q.READ if max_poll_seconds <= 0 else q.READ_WITH_POLL


def read_params(queue_name: str, vt: int, qty: int, max_poll_seconds: float, poll_interval_ms: int) -> dict[str, Any]:
    return {
        "queue_name": queue_name,
        "vt": int(vt),
        "qty": int(qty),
        "max_poll_seconds": max(1, round(max_poll_seconds)) if max_poll_seconds > 0 else 0,
        "poll_interval_ms": int(poll_interval_ms),
    }


def next_visible_query(queue_name: str) -> sql.Composed:
    """``queries.NEXT_VISIBLE_IN`` on the queue's table (pgmq names it ``q_<lowercased queue>``)."""
    return sql.SQL(q.NEXT_VISIBLE_IN).format(queue_table=sql.Identifier("pgmq", "q_" + queue_name.lower()))


def has_rows(cur: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> bool:
    # cur.description would build a Column object per column on every call
    return cur.pgresult is not None and cur.pgresult.status == ExecStatus.TUPLES_OK
