"""The client decodes rows by column name: the worker's started-task rows come out the same in any
column order, and a row that lacks a column fails naming it."""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg
import pytest

from pgflow.client._values import started_task_row
from pgflow.errors import PgflowError
from pgflow.types import QueueMessage, StepTask

RUN = uuid.UUID("00000000-0000-4000-8000-000000000001")
COLUMNS = {
    "flow_slug": "'f'::text",
    "run_id": f"'{RUN}'::uuid",
    "step_slug": "'s'::text",
    "input": """'{"i": 1}'::jsonb""",
    "msg_id": "7::bigint",
    "task_index": "2",
    "flow_input": "null::jsonb",
    "attempts_count": "3",
    "read_ct": "4",
    "enqueued_at": "'2026-01-01 00:00:00+00'::timestamptz",
    "message_vt": "'2026-01-01 00:00:30+00'::timestamptz",
    "message": """'{"m": 1}'::jsonb""",
}


def _select(names: list[str]) -> str:
    return "select " + ", ".join(f"{COLUMNS[n]} as {n}" for n in names)


def test_started_task_rows_are_decoded_by_name_in_any_column_order(conn: psycopg.Connection) -> None:
    results = []
    for names in (list(COLUMNS), list(reversed(COLUMNS)), sorted(COLUMNS)):
        with conn.cursor(row_factory=started_task_row) as cur:
            results.append(cur.execute(_select(names)).fetchall())
    [(task, message)] = results[0]
    assert task == StepTask("f", RUN, "s", {"i": 1}, 7, 2, None, 3)
    assert (message.msg_id, message.read_ct, message.message) == (7, 4, {"m": 1})
    assert isinstance(message, QueueMessage) and isinstance(message.vt, datetime)
    assert (message.vt - message.enqueued_at).total_seconds() == 30
    assert results[1] == results[0] and results[2] == results[0]


def test_a_started_task_row_without_a_column_fails_naming_it(conn: psycopg.Connection) -> None:
    names = [n for n in COLUMNS if n not in ("read_ct", "task_index")]
    with conn.cursor(row_factory=started_task_row) as cur, pytest.raises(PgflowError, match="task_index, read_ct"):
        cur.execute(_select(names))
