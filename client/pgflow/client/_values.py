"""Values in and out of the SQL: encoding before a statement runs, decoding the rows it returns.

Encoding checks what the database would refuse, before any SQL runs, and says what was wrong:
outputs and inputs become compact JSON text (:func:`encode_json`), error messages text that
PostgreSQL can store (:func:`sanitize_error_message`), completion batches array literals.

Decoding reads columns by name, never by position: row factories (psycopg's ``dict_row``, or
:func:`started_task_row` for the worker's hot path, which looks each column up once per result and
then builds its objects with two ``itemgetter`` calls per row) and the ``from_row`` constructors
of :mod:`pgflow.types`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, Final

import psycopg
from psycopg.rows import DictRow, RowMaker

from pgflow.errors import FlowNotFound, InvalidInput, InvalidOutput, PgflowError
from pgflow.types import CompileResult, CompileStatus, QueueMessage, Schedule, StepTask

DEFAULT_MAX_OUTPUT_BYTES: Final = 10 * 1024 * 1024
"""Largest task output accepted, in bytes of UTF-8 JSON. Every output is stored on its task and
again inside the step's output (maps aggregate them), and read back by every dependent task."""

DEFAULT_MAX_ERROR_CHARS: Final = 64 * 1024
"""Error messages longer than this are cut (a traceback-sized message is kept whole)."""

# ---- encoding -------------------------------------------------------------------------------

# A JSON "\u0000" escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

# json.dumps with these arguments would build this encoder again on every call.
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode_json(
    value: Any, *, what: str | Callable[[], str], limit: int | None, error: type[InvalidInput] = InvalidOutput
) -> str:
    """Serialise ``value`` to JSON text that PostgreSQL's jsonb accepts, or raise ``error``
    (a message starting with ``what``, or with what ``what()`` returns: the hot path builds the
    description only when it needs it) without touching the database."""

    def fail(problem: str) -> InvalidInput:
        return error(f"{what() if callable(what) else what} {problem}")

    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise fail(f"is not JSON-serialisable: {exc}") from None
    if text.isascii():  # one byte a character, and no surrogate
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise fail("holds a string with a lone surrogate, which is not valid UTF-8") from None
    if limit is not None and size > limit:
        raise fail(f"is {size} bytes of JSON, over the limit of {limit} bytes (max_output_bytes)")
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise fail("holds a NUL character (\\u0000), which PostgreSQL's jsonb cannot store")
    return text


def sanitize_error_message(message: object, limit: int = DEFAULT_MAX_ERROR_CHARS) -> str:
    """A text PostgreSQL can store: NUL shown as ``\\x00``, lone surrogates as ``?``, cut to
    ``limit`` characters."""
    text = message if isinstance(message, str) else str(message)
    text = text.replace("\x00", "\\x00").encode("utf-8", "replace").decode("utf-8")
    if len(text) > limit:
        text = text[:limit] + f"... [truncated, {len(text)} characters]"
    return text


def task_what(step_slug: str, task_index: int, run_id: uuid.UUID | str) -> str:
    """How an InvalidOutput names the task whose output was refused."""
    return f"output of step {step_slug!r} task {task_index} (run {run_id})"


@dataclasses.dataclass(frozen=True, slots=True)
class Completion:
    """A task result checked and serialised for :meth:`AsyncPgflowSqlClient.complete_tasks`
    (made by ``completion()``, which raises InvalidOutput as complete_task would)."""

    run_id: uuid.UUID | str
    step_slug: str
    task_index: int
    output_json: str


def complete_tasks_args(completions: Sequence[Completion]) -> tuple[str, str, str, str]:
    """The four arrays of a completion batch (run_ids, step_slugs, task_indexes, outputs), as
    array literals: they cost half of what psycopg's per-element list dumping does (the worker's
    completion batches are its most frequent call); the statements cast them."""
    return (
        array_literal([c.run_id for c in completions]),
        array_literal([c.step_slug for c in completions]),
        array_literal([c.task_index for c in completions]),
        array_literal([c.output_json for c in completions]),
    )


def _element(x: object) -> str:
    """One element of an array literal: NULL, a bare UUID or integer (nothing in their text
    needs quoting), or any other value's text quoted and escaped."""
    kind = type(x)
    if kind is uuid.UUID or kind is int:
        return str(x)
    if x is None:
        return "NULL"
    return '"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"'


def complete_tasks_params(completions: Sequence[Completion]) -> dict[str, str]:
    """:func:`complete_tasks_args` as the named parameters of ``queries.COMPLETE_TASKS``."""
    names = ("run_ids", "step_slugs", "task_indexes", "outputs")
    return dict(zip(names, complete_tasks_args(completions), strict=True))


def array_literal(items: Sequence[object]) -> str:
    """A PostgreSQL array literal of the items' text forms, every element but UUIDs and integers
    quoted (so any text, JSON included, round-trips); None becomes NULL."""
    return "{" + ",".join(map(_element, items)) + "}"


# ---- decoding -------------------------------------------------------------------------------

# StepTask's and QueueMessage's fields, in order, by the columns that hold them.
_TASK_COLUMNS: Final = (
    "flow_slug", "run_id", "step_slug", "input", "msg_id", "task_index", "flow_input", "attempts_count"
)
_MESSAGE_COLUMNS: Final = ("msg_id", "read_ct", "enqueued_at", "message_vt", "message")


_Getters = tuple[Callable[[Sequence[Any]], Any], Callable[[Sequence[Any]], Any]]
_STARTED_GETTERS: dict[tuple[bytes | None, ...], _Getters] = {}  # a few entries: one per statement


def _started_getters(names: tuple[bytes | None, ...]) -> _Getters:
    where = {(name or b"").decode(): i for i, name in enumerate(names)}
    missing = [c for c in (*_TASK_COLUMNS, *_MESSAGE_COLUMNS) if c not in where]
    if missing:
        raise PgflowError(f"started tasks' rows lack the column(s) {', '.join(missing)}; they have {list(where)}")
    getters = (itemgetter(*(where[c] for c in _TASK_COLUMNS)), itemgetter(*(where[c] for c in _MESSAGE_COLUMNS)))
    _STARTED_GETTERS[names] = getters
    return getters


def started_task_row(cursor: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> RowMaker[tuple[StepTask, QueueMessage]]:
    """Row factory of ``READ_AND_START_TASKS`` and ``COMPLETE_TASKS_AND_CLAIM``: each row becomes
    a started task and its message (``message_vt`` is the message's ``vt``). The columns are found
    by name once per column layout; a missing one raises PgflowError naming it."""
    res = cursor.pgresult
    names = tuple(map(res.fname, range(res.nfields))) if res is not None else ()
    getters = _STARTED_GETTERS.get(names) or _started_getters(names)
    task_values, message_values = getters

    def make(values: Sequence[Any]) -> tuple[StepTask, QueueMessage]:
        return StepTask(*task_values(values)), QueueMessage(*message_values(values))

    return make


def first(rows: list[DictRow]) -> DictRow | None:
    return rows[0] if rows else None


def with_attempts(tasks: list[DictRow], attempts: list[DictRow]) -> list[StepTask]:
    """start_tasks' rows, each with the attempt its task is on (read in the same transaction)."""
    by_key = {(str(a["run_id"]), a["step_slug"], a["task_index"]): a["attempts_count"] for a in attempts}
    return [
        StepTask.from_row({**t, "attempts_count": by_key.get((str(t["run_id"]), t["step_slug"], t["task_index"]))})
        for t in tasks
    ]


def compile_result(flow_slug: str, row: DictRow | None) -> CompileResult:
    if row is None or row["result"] is None:
        raise PgflowError(f"ensure_flow_compiled returned nothing for flow {flow_slug!r}")
    return CompileResult.from_json(row["result"])


def verify_result(flow_slug: str, row: DictRow | None) -> CompileResult:
    if row is None or not row["flow_exists"]:
        raise FlowNotFound(
            f"flow {flow_slug!r} is not compiled in the database: compile it (pgflow compile, then "
            "migrate) or start the worker with compile='auto'"
        )
    diffs = tuple(row["differences"] or ())
    return CompileResult(CompileStatus.MISMATCH if diffs else CompileStatus.VERIFIED, diffs)


def schedule_row(rows: list[DictRow]) -> Schedule:
    """The row a schedule function returns."""
    row = first(rows)
    if row is None or row["schedule_slug"] is None:
        raise PgflowError("a schedule function returned no row")
    return Schedule.from_row(row)


def is_run_end(payload: str, run_id: str) -> bool:
    """Whether an event payload of the events channel says that run ``run_id`` ended."""
    try:
        event = json.loads(payload)
    except ValueError:
        return False
    return (
        isinstance(event, dict)
        and event.get("run_id") == run_id
        and event.get("event_type") in ("run:completed", "run:failed", "run:cancelled")
    )
