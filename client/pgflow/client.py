"""The SQL client: a thin typed layer over pgflow's SQL API. All SQL of the Python side lives here.

Two classes with the same methods: :class:`PgflowSqlClient` (sync, over a psycopg ``Connection``
or ``psycopg_pool.ConnectionPool``) and :class:`AsyncPgflowSqlClient` (``AsyncConnection`` or
``AsyncConnectionPool``). Constructors do no I/O; the caller opens and closes what it passes in.

Every call is ``select * from pgflow.fn(name => %(name)s, ...)`` with named arguments, as
pgflow's own clients call it. Every write method takes an optional ``conn=``: the statement then
runs on that connection, inside whatever transaction the caller has open there, so a run can be
started atomically with the caller's own writes (and disappears if they roll back). Without
``conn=`` a pooled connection is used (committed when returned), or the client's connection: in
autocommit mode as is, otherwise inside ``conn.transaction()`` (committed, or a savepoint when a
transaction is already open).

Outputs and inputs are JSON. They are serialised and checked here, before any SQL runs: a value
that is not JSON (sets, NaN, objects), holds a NUL character (jsonb cannot store ``\\u0000``)
or is larger than ``max_output_bytes`` (default 10 MiB of UTF-8 JSON) raises
:class:`~pgflow.errors.InvalidOutput` naming the step and task. Error messages are sanitised
(NUL and lone surrogates replaced) and cut to ``max_error_chars``.

psycopg errors are translated by :func:`pgflow.errors.map_sql_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Final, LiteralString, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.rows import AsyncRowFactory, DictRow, RowFactory, dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from pgflow.errors import (
    FlowNotFound,
    InvalidInput,
    InvalidOutput,
    PgflowError,
    RunNotFound,
    RunTimeout,
    WorkerNotFound,
    map_sql_error,
)
from pgflow.types import CompileResult, CompileStatus, QueueMessage, Run, RunWithStates, StepTask, TaskRow

R = TypeVar("R")
Params = Mapping[str, Any] | Sequence[Any]  # named (%(x)s) or positional (%s) query parameters

__all__ = [
    "DEFAULT_MAX_ERROR_CHARS",
    "DEFAULT_MAX_OUTPUT_BYTES",
    "AsyncPgflowSqlClient",
    "Completion",
    "PgflowSqlClient",
    "encode_json",
    "listen_for_tasks",
    "sanitize_error_message",
]

DEFAULT_MAX_OUTPUT_BYTES: Final = 10 * 1024 * 1024
"""Largest task output accepted, in bytes of UTF-8 JSON. Every output is stored on its task and
again inside the step's output (maps aggregate them), and read back by every dependent task."""

DEFAULT_MAX_ERROR_CHARS: Final = 64 * 1024
"""Error messages longer than this are cut (a traceback-sized message is kept whole)."""

EVENTS_CHANNEL: Final = "pgflow"
"""NOTIFY channel of run/step events (payload: the event JSON plus an "event" key)."""

TASKS_CHANNEL: Final = "pgflow_tasks"
"""NOTIFY channel that wakes workers (payload: the flow slug) when task messages become visible."""

MAINTENANCE_LOCK_KEY: Final = 7_412_020
"""pg_try_advisory_xact_lock key that makes at most one worker run the maintenance sweep."""

# --------------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------------

_READ_WITH_POLL: Final = """
select * from pgmq.read_with_poll(
    queue_name => %(queue_name)s::text, vt => %(vt)s::int, qty => %(qty)s::int,
    max_poll_seconds => %(max_poll_seconds)s::int, poll_interval_ms => %(poll_interval_ms)s::int
)"""
_READ: Final = "select * from pgmq.read(queue_name => %(queue_name)s::text, vt => %(vt)s::int, qty => %(qty)s::int)"
# The worker's two calls per batch read plain tuples (the columns _started() expects, in order).
_READ_AND_START_TASKS: Final = """
select
    flow_slug, run_id, step_slug, input, msg_id, task_index, flow_input, attempts_count,
    read_ct, enqueued_at, message_vt, message
from pgflow.read_and_start_tasks(queue_name => %s::text, worker_id => %s::uuid, vt => %s::int, qty => %s::int)"""
_START_TASKS: Final = """
select * from pgflow.start_tasks(
    flow_slug => %(flow_slug)s::text, msg_ids => %(msg_ids)s::bigint[], worker_id => %(worker_id)s::uuid
)"""
# Read in start_tasks' transaction, while the started rows are still locked by it.
_STARTED_ATTEMPTS: Final = """
select st.run_id, st.step_slug, st.task_index, st.attempts_count
from pgflow.step_tasks as st
where st.flow_slug = %(flow_slug)s::text and st.message_id = any(%(msg_ids)s::bigint[])
    and st.status = 'started' and st.last_worker_id = %(worker_id)s::uuid"""
# Guarded reports, for calls that may be replays: pgflow's complete_task/fail_task name no
# attempt, so a fail_task replayed after a lost acknowledgement would fail the task's NEXT
# attempt. One statement (so it commits exactly when it answers, like the plain call): the
# function runs only while the task is still `started` on the attempt being reported. The
# subquery with `offset 0` keeps the function call per qualifying row (none -> not called).
_GUARD: Final = """
    from pgflow.step_tasks as st
    where st.run_id = %(run_id)s::uuid and st.step_slug = %(step_slug)s::text
        and st.task_index = %(task_index)s::int and st.status = 'started'
        and st.attempts_count = %(expected_attempt)s::int
    offset 0
) as g"""
_GUARDED_COMPLETE: Final = (
    """
select (g.t).* from (
    select pgflow.complete_task(
        run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
        output => %(output)s::jsonb
    ) as t"""
    + _GUARD
)
_GUARDED_FAIL: Final = (
    """
select (g.t).* from (
    select pgflow.fail_task(
        run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
        error_message => %(error_message)s::text
    ) as t"""
    + _GUARD
)
_COMPLETE_TASK: Final = """
select * from pgflow.complete_task(
    run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
    output => %(output)s::jsonb
)"""
_COMPLETE_TASKS_COUNT: Final = """
select pgflow.complete_tasks_count(
    run_ids => %s::uuid[], step_slugs => %s::text[], task_indexes => %s::int[], outputs => %s::jsonb[]
)"""
_COMPLETE_TASKS_AND_CLAIM: Final = """
select
    flow_slug, run_id, step_slug, input, msg_id, task_index, flow_input, attempts_count,
    read_ct, enqueued_at, message_vt, message
from pgflow.complete_tasks_and_claim(
    run_ids => %s::uuid[], step_slugs => %s::text[], task_indexes => %s::int[], outputs => %s::jsonb[],
    worker_id => %s::uuid, qty => %s::int
)"""
_COMPLETE_TASKS: Final = """
select * from pgflow.complete_tasks(
    run_ids => %(run_ids)s::uuid[], step_slugs => %(step_slugs)s::text[], task_indexes => %(task_indexes)s::int[],
    outputs => %(outputs)s::jsonb[]
)"""
_FAIL_TASK: Final = """
select * from pgflow.fail_task(
    run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
    error_message => %(error_message)s::text
)"""
_START_FLOW: Final = """
select * from pgflow.start_flow(
    flow_slug => %(flow_slug)s::text, input => %(input)s::jsonb, run_id => %(run_id)s::uuid
)"""
_GET_RUN: Final = "select * from pgflow.get_run_with_states(run_id => %(run_id)s::uuid) as result"
_FLOW_INPUT: Final = "select r.input from pgflow.runs as r where r.run_id = %(run_id)s::uuid"
_ENSURE_COMPILED: Final = """
select * from pgflow.ensure_flow_compiled(
    flow_slug => %(flow_slug)s::text, shape => %(shape)s::jsonb, allow_data_loss => %(allow_data_loss)s::boolean
) as result"""
_VERIFY_SHAPE: Final = """
select
    exists (select 1 from pgflow.flows as f where f.flow_slug = %(flow_slug)s::text) as flow_exists,
    pgflow._compare_flow_shapes(
        p_local => %(shape)s::jsonb, p_db => pgflow._get_flow_shape(p_flow_slug => %(flow_slug)s::text)
    ) as differences"""
# The edge worker inserts its row with a plain INSERT (there is no pgflow function for it). A
# restart that reuses a worker id revives its row; an operator's deprecated_at is kept.
_REGISTER_WORKER: Final = """
insert into pgflow.workers (worker_id, queue_name, function_name)
values (%(worker_id)s::uuid, %(queue_name)s::text, %(function_name)s::text)
on conflict (worker_id) do update
set queue_name = excluded.queue_name, function_name = excluded.function_name, started_at = now(),
    stopped_at = null, last_heartbeat_at = clock_timestamp()"""
_HEARTBEAT: Final = """
update pgflow.workers as w set last_heartbeat_at = clock_timestamp()
where w.worker_id = %(worker_id)s::uuid
returning w.deprecated_at is not null as is_deprecated"""
_MARK_STOPPED: Final = "select * from pgflow.mark_worker_stopped(worker_id => %(worker_id)s::uuid)"
_TRY_MAINTENANCE_LOCK: Final = "select pg_try_advisory_xact_lock(%(key)s::bigint) as locked"
_REQUEUE_STALLED: Final = "select * from pgflow.requeue_stalled_tasks() as requeued"
_HAS_SCHEMA: Final = "select to_regprocedure('pgflow.schema_version()') is not null as present"
_SCHEMA_VERSION: Final = "select * from pgflow.schema_version() as version"
_LISTEN: Final = "listen pgflow"
_UNLISTEN: Final = "unlisten pgflow"


def _next_visible_query(queue_name: str) -> sql.Composed:
    """Seconds until the next message of a queue becomes visible (NULL when the queue is empty).
    pgmq has no function for this; its table name is ``q_<lowercased queue>``."""
    return sql.SQL("select extract(epoch from (min(q.vt) - clock_timestamp()))::float8 as seconds from {} as q").format(
        sql.Identifier("pgmq", "q_" + queue_name.lower())
    )


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

# A JSON "\u0000" escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def encode_json(
    value: Any, *, what: str | Callable[[], str], limit: int | None, error: type[InvalidInput] = InvalidOutput
) -> str:
    """Serialise ``value`` to JSON text that PostgreSQL's jsonb accepts, or raise ``error``
    (a message starting with ``what``, or with what ``what()`` returns: the hot path builds the
    description only when it needs it) without touching the database."""

    def fail(problem: str) -> InvalidInput:
        return error(f"{what() if callable(what) else what} {problem}")

    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise fail(f"is not JSON-serialisable: {exc}") from None
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


def _task_what(step_slug: str, task_index: int, run_id: uuid.UUID | str) -> str:
    return f"output of step {step_slug!r} task {task_index} (run {run_id})"


def _is_run_end(payload: str, run_id: str) -> bool:
    try:
        event = json.loads(payload)
    except ValueError:
        return False
    return (
        isinstance(event, dict)
        and event.get("run_id") == run_id
        and event.get("event_type") in ("run:completed", "run:failed")
    )


def _first(rows: list[DictRow]) -> DictRow | None:
    return rows[0] if rows else None


def _with_attempts(tasks: list[DictRow], attempts: list[DictRow]) -> list[StepTask]:
    by_key = {(str(a["run_id"]), a["step_slug"], a["task_index"]): a["attempts_count"] for a in attempts}
    return [
        StepTask.from_row({**t, "attempts_count": by_key.get((str(t["run_id"]), t["step_slug"], t["task_index"]))})
        for t in tasks
    ]


def _started(rows: list[tuple[Any, ...]]) -> list[tuple[StepTask, QueueMessage]]:
    """Rows of _READ_AND_START_TASKS -> (task, its message) pairs."""
    return [
        (StepTask(*r[:8]), QueueMessage(r[4], r[8], r[9], r[10], r[11]))
        for r in rows
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class Completion:
    """A task result checked and serialised for :meth:`AsyncPgflowSqlClient.complete_tasks`
    (made by ``completion()``, which raises InvalidOutput as complete_task would)."""

    run_id: uuid.UUID | str
    step_slug: str
    task_index: int
    output_json: str


def _complete_tasks_params(completions: Sequence[Completion]) -> dict[str, Any]:
    names = ("run_ids", "step_slugs", "task_indexes", "outputs")
    return dict(zip(names, _complete_tasks_args(completions), strict=True))


def _complete_tasks_args(completions: Sequence[Completion]) -> tuple[str, ...]:
    # Array literals built here cost half of what psycopg's per-element list dumping does (the
    # worker's completion batches are its most frequent call); the query casts them.
    return (
        _array_literal([c.run_id for c in completions]),
        _array_literal([c.step_slug for c in completions]),
        _array_literal([c.task_index for c in completions]),
        _array_literal([c.output_json for c in completions]),
    )


def _array_literal(items: Sequence[object]) -> str:
    """A PostgreSQL array literal of the items' text forms, every element quoted (so any text,
    JSON included, round-trips); None becomes NULL."""
    return (
        "{"
        + ",".join(
            "NULL" if x is None else '"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"' for x in items
        )
        + "}"
    )


class _Settings:
    __slots__ = ("max_error_chars", "max_output_bytes")

    def __init__(self, max_output_bytes: int | None, max_error_chars: int) -> None:
        if max_output_bytes is not None and max_output_bytes <= 0:
            raise ValueError("max_output_bytes must be positive (or None for no limit)")
        if max_error_chars <= 0:
            raise ValueError("max_error_chars must be positive")
        self.max_output_bytes = max_output_bytes
        self.max_error_chars = max_error_chars

    def complete_params(self, run_id: uuid.UUID | str, step_slug: str, task_index: int, output: Any) -> dict[str, Any]:
        text = encode_json(
            output, what=lambda: _task_what(step_slug, task_index, run_id), limit=self.max_output_bytes
        )
        return {"run_id": run_id, "step_slug": step_slug, "task_index": task_index, "output": text}

    def fail_params(
        self, run_id: uuid.UUID | str, step_slug: str, task_index: int, error_message: object
    ) -> dict[str, Any]:
        msg = sanitize_error_message(error_message, self.max_error_chars)
        return {"run_id": run_id, "step_slug": step_slug, "task_index": task_index, "error_message": msg}

    def start_flow_params(self, flow_slug: str, input: Any, run_id: uuid.UUID | str | None) -> dict[str, Any]:
        text = encode_json(input, what=f"input of flow {flow_slug!r}", limit=self.max_output_bytes, error=InvalidInput)
        return {"flow_slug": flow_slug, "input": text, "run_id": run_id}


def _read_query(max_poll_seconds: float) -> LiteralString:
    return _READ if max_poll_seconds <= 0 else _READ_WITH_POLL


def _read_params(queue_name: str, vt: int, qty: int, max_poll_seconds: float, poll_interval_ms: int) -> dict[str, Any]:
    return {
        "queue_name": queue_name,
        "vt": int(vt),
        "qty": int(qty),
        "max_poll_seconds": max(1, round(max_poll_seconds)) if max_poll_seconds > 0 else 0,
        "poll_interval_ms": int(poll_interval_ms),
    }


def _compile_result(flow_slug: str, row: DictRow | None) -> CompileResult:
    if row is None or row["result"] is None:
        raise PgflowError(f"ensure_flow_compiled returned nothing for flow {flow_slug!r}")
    return CompileResult.from_json(row["result"])


def _verify_result(flow_slug: str, row: DictRow | None) -> CompileResult:
    if row is None or not row["flow_exists"]:
        raise FlowNotFound(
            f"flow {flow_slug!r} is not compiled in the database: compile it (pgflow compile, then "
            "migrate) or start the worker with compile='auto'"
        )
    diffs = tuple(row["differences"] or ())
    return CompileResult(CompileStatus.MISMATCH if diffs else CompileStatus.VERIFIED, diffs)


# --------------------------------------------------------------------------------------------
# Sync client
# --------------------------------------------------------------------------------------------


class PgflowSqlClient:
    """pgflow's SQL API over a psycopg ``Connection`` or ``ConnectionPool`` (sync)."""

    def __init__(
        self,
        source: psycopg.Connection[Any] | ConnectionPool[Any],
        *,
        max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
        max_error_chars: int = DEFAULT_MAX_ERROR_CHARS,
    ) -> None:
        self._source = source
        self._settings = _Settings(max_output_bytes, max_error_chars)

    # -- plumbing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[psycopg.Connection[Any]]:
        if isinstance(self._source, ConnectionPool):
            with self._source.connection() as c:
                yield c
        else:
            yield self._source

    def _fetch(
        self,
        query: LiteralString | sql.Composed,
        params: Mapping[str, Any] | None,
        conn: psycopg.Connection[Any] | None,
        **context: Any,
    ) -> list[DictRow]:
        return self._fetch_as(dict_row, query, params, conn, **context)

    def _fetch_as(
        self,
        rows: RowFactory[R],
        query: LiteralString | sql.Composed,
        params: Params | None,
        conn: psycopg.Connection[Any] | None,
        **context: Any,
    ) -> list[R]:
        try:
            if conn is not None:
                return _execute_as(conn, query, params, rows)
            with self._borrow() as c:
                if c.autocommit or isinstance(self._source, ConnectionPool):
                    return _execute_as(c, query, params, rows)
                with c.transaction():
                    return _execute_as(c, query, params, rows)
        except psycopg.Error as exc:
            raise map_sql_error(exc, **context) from exc

    # -- worker API ------------------------------------------------------------------------

    def read_messages(
        self,
        queue_name: str,
        vt: int,
        qty: int,
        *,
        max_poll_seconds: float = 5,
        poll_interval_ms: int = 100,
        conn: psycopg.Connection[Any] | None = None,
    ) -> list[QueueMessage]:
        """``pgmq.read_with_poll`` (or ``pgmq.read`` when ``max_poll_seconds`` is 0)."""
        rows = self._fetch(
            _read_query(max_poll_seconds),
            _read_params(queue_name, vt, qty, max_poll_seconds, poll_interval_ms),
            conn,
            flow_slug=queue_name,
        )
        return [QueueMessage.from_row(r) for r in rows]

    def read_and_start_tasks(
        self,
        queue_name: str,
        worker_id: uuid.UUID | str,
        vt: int,
        qty: int,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> list[tuple[StepTask, QueueMessage]]:
        """``pgflow.read_and_start_tasks``: ``pgmq.read`` + ``start_tasks`` in one call (pgflow-py's
        own function, not pgflow's): the started tasks, each with its message."""
        params = (queue_name, worker_id, int(vt), int(qty))
        rows = self._fetch_as(
            tuple_row, _READ_AND_START_TASKS, params, conn, flow_slug=queue_name, worker_id=str(worker_id)
        )
        return _started(rows)

    def start_tasks(
        self,
        flow_slug: str,
        msg_ids: Sequence[int],
        worker_id: uuid.UUID | str,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> list[StepTask]:
        if not msg_ids:
            return []
        params = {"flow_slug": flow_slug, "msg_ids": list(msg_ids), "worker_id": worker_id}
        try:
            with contextlib.ExitStack() as stack:
                c = conn if conn is not None else stack.enter_context(self._borrow())
                with c.transaction():
                    rows = _execute(c, _START_TASKS, params)
                    attempts = _execute(c, _STARTED_ATTEMPTS, params) if rows else []
        except psycopg.Error as exc:
            raise map_sql_error(exc, flow_slug=flow_slug, worker_id=str(worker_id)) from exc
        return _with_attempts(rows, attempts)

    def complete_task(
        self,
        run_id: uuid.UUID | str,
        step_slug: str,
        task_index: int,
        output: Any,
        *,
        expected_attempt: int | None = None,
        conn: psycopg.Connection[Any] | None = None,
    ) -> TaskRow | None:
        """Store a task's output. Returns the task row (None when no such task exists)."""
        params = self._settings.complete_params(run_id, step_slug, task_index, output)
        if expected_attempt is None:
            row = _first(self._fetch(_COMPLETE_TASK, params, conn, run_id=str(run_id), step_slug=step_slug))
        else:
            row = _first(
                self._fetch(
                    _GUARDED_COMPLETE,
                    {**params, "expected_attempt": expected_attempt},
                    conn,
                    run_id=str(run_id),
                    step_slug=step_slug,
                )
            )
        return None if row is None else TaskRow.from_row(row)

    def completion(self, run_id: uuid.UUID | str, step_slug: str, task_index: int, output: Any) -> Completion:
        """Check and serialise a result for :meth:`complete_tasks` (raises InvalidOutput)."""
        params = self._settings.complete_params(run_id, step_slug, task_index, output)
        return Completion(run_id, step_slug, task_index, params["output"])

    def complete_tasks(
        self, completions: Sequence[Completion], *, conn: psycopg.Connection[Any] | None = None
    ) -> list[TaskRow]:
        """``pgflow.complete_tasks``: several results in one call and one transaction, with the
        effect of complete_task for each (not part of pgflow's API). Returns the tasks' rows."""
        if not completions:
            return []
        rows = self._fetch(_COMPLETE_TASKS, _complete_tasks_params(completions), conn)
        return [TaskRow.from_row(r) for r in rows]

    def complete_tasks_count(
        self, completions: Sequence[Completion], *, conn: psycopg.Connection[Any] | None = None
    ) -> int:
        """``pgflow.complete_tasks_count``: :meth:`complete_tasks` without reading the rows back;
        returns how many distinct known tasks the completions name."""
        if not completions:
            return 0
        rows = self._fetch_as(tuple_row, _COMPLETE_TASKS_COUNT, _complete_tasks_args(completions), conn)
        return int(rows[0][0])

    def complete_tasks_and_claim(
        self,
        completions: Sequence[Completion],
        worker_id: uuid.UUID | str,
        qty: int,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> list[tuple[StepTask, QueueMessage]]:
        """``pgflow.complete_tasks_and_claim``: :meth:`complete_tasks_count`'s batch, and up to
        ``qty`` of the tasks it makes ready in the flow of ``worker_id`` started for that worker
        in the same transaction (returned as :meth:`read_and_start_tasks` returns tasks)."""
        if not completions:
            return []
        params = (*_complete_tasks_args(completions), worker_id, int(qty))
        return _started(self._fetch_as(tuple_row, _COMPLETE_TASKS_AND_CLAIM, params, conn, worker_id=str(worker_id)))

    def fail_task(
        self,
        run_id: uuid.UUID | str,
        step_slug: str,
        task_index: int,
        error_message: str,
        *,
        expected_attempt: int | None = None,
        conn: psycopg.Connection[Any] | None = None,
    ) -> TaskRow | None:
        params = self._settings.fail_params(run_id, step_slug, task_index, error_message)
        if expected_attempt is None:
            row = _first(self._fetch(_FAIL_TASK, params, conn, run_id=str(run_id), step_slug=step_slug))
        else:
            row = _first(
                self._fetch(
                    _GUARDED_FAIL,
                    {**params, "expected_attempt": expected_attempt},
                    conn,
                    run_id=str(run_id),
                    step_slug=step_slug,
                )
            )
        return None if row is None else TaskRow.from_row(row)

    # -- runs ------------------------------------------------------------------------------

    def start_flow(
        self,
        flow_slug: str,
        input: Any,
        run_id: uuid.UUID | str | None = None,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> Run:
        params = self._settings.start_flow_params(flow_slug, input, run_id)
        row = _first(self._fetch(_START_FLOW, params, conn, flow_slug=flow_slug))
        if row is None:
            raise PgflowError(f"start_flow returned no run for flow {flow_slug!r}")
        return Run.from_row(row)

    def get_run(self, run_id: uuid.UUID | str, *, conn: psycopg.Connection[Any] | None = None) -> RunWithStates | None:
        row = _first(self._fetch(_GET_RUN, {"run_id": run_id}, conn, run_id=str(run_id)))
        return None if row is None or row["result"] is None else RunWithStates.from_json(row["result"])

    def get_flow_input(self, run_id: uuid.UUID | str, *, conn: psycopg.Connection[Any] | None = None) -> Any:
        row = _first(self._fetch(_FLOW_INPUT, {"run_id": run_id}, conn, run_id=str(run_id)))
        if row is None:
            raise RunNotFound(f"run {run_id} not found")
        return row["input"]

    def wait_for_run(
        self, run_id: uuid.UUID | str, timeout: float = 60.0, *, poll_interval: float = 1.0
    ) -> RunWithStates:
        """Block until the run is completed or failed; return its final state.

        LISTENs on channel ``pgflow`` for the run's ``run:completed``/``run:failed`` event and
        re-reads the run every ``poll_interval`` seconds as a fallback (events can be missed, and
        a connection inside an open transaction cannot receive them). Raises RunNotFound,
        RunTimeout."""
        rid = str(run_id)
        deadline = time.monotonic() + timeout
        with self._borrow() as c:
            listening, restore = _sync_listen(c)
            try:
                while True:
                    state = self.get_run(rid, conn=c)
                    if state is None:
                        raise RunNotFound(f"run {rid} not found")
                    if state.run.status.is_terminal:
                        return state
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise RunTimeout(f"run {rid} still {state.run.status} after {timeout} s")
                    wait = min(remaining, poll_interval)
                    if listening:
                        for n in c.notifies(timeout=wait):
                            if _is_run_end(n.payload, rid):
                                break
                    else:
                        time.sleep(wait)
            finally:
                _sync_unlisten(c, listening, restore)

    # -- workers and flows -----------------------------------------------------------------

    def register_worker(
        self,
        worker_id: uuid.UUID | str,
        queue_name: str,
        function_name: str,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> None:
        params = {"worker_id": worker_id, "queue_name": queue_name, "function_name": function_name}
        self._fetch(_REGISTER_WORKER, params, conn, worker_id=str(worker_id))

    def heartbeat(self, worker_id: uuid.UUID | str, *, conn: psycopg.Connection[Any] | None = None) -> bool:
        """Record a heartbeat; return True when an operator has deprecated this worker."""
        row = _first(self._fetch(_HEARTBEAT, {"worker_id": worker_id}, conn, worker_id=str(worker_id)))
        if row is None:
            raise WorkerNotFound(f"worker {worker_id} has no row in pgflow.workers")
        return bool(row["is_deprecated"])

    def mark_worker_stopped(self, worker_id: uuid.UUID | str, *, conn: psycopg.Connection[Any] | None = None) -> None:
        self._fetch(_MARK_STOPPED, {"worker_id": worker_id}, conn, worker_id=str(worker_id))

    def ensure_flow_compiled(
        self,
        flow_slug: str,
        shape: Mapping[str, Any],
        allow_data_loss: bool = False,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> CompileResult:
        params = {"flow_slug": flow_slug, "shape": json.dumps(shape), "allow_data_loss": allow_data_loss}
        return _compile_result(flow_slug, _first(self._fetch(_ENSURE_COMPILED, params, conn, flow_slug=flow_slug)))

    def verify_flow_shape(
        self, flow_slug: str, shape: Mapping[str, Any], *, conn: psycopg.Connection[Any] | None = None
    ) -> CompileResult:
        """Compare a flow's shape with the database without changing anything: status
        ``verified`` or ``mismatch``; FlowNotFound when the flow is not compiled."""
        params = {"flow_slug": flow_slug, "shape": json.dumps(shape)}
        return _verify_result(flow_slug, _first(self._fetch(_VERIFY_SHAPE, params, conn, flow_slug=flow_slug)))

    def requeue_stalled_tasks(self, *, conn: psycopg.Connection[Any] | None = None) -> int | None:
        """``pgflow.requeue_stalled_tasks()`` under a transaction-level advisory try-lock, so
        that concurrent callers skip instead of queueing up. None: someone else holds the lock."""
        try:
            with contextlib.ExitStack() as stack:
                c = conn if conn is not None else stack.enter_context(self._borrow())
                with c.transaction():
                    locked = _first(_execute(c, _TRY_MAINTENANCE_LOCK, {"key": MAINTENANCE_LOCK_KEY}))
                    if not locked or not locked["locked"]:
                        return None
                    row = _first(_execute(c, _REQUEUE_STALLED, None))
                    return int(row["requeued"] or 0) if row else 0
        except psycopg.Error as exc:
            raise map_sql_error(exc) from exc

    def schema_version(self, *, conn: psycopg.Connection[Any] | None = None) -> int | None:
        """``pgflow.schema_version()``, or None when the database has no pgflow schema."""
        present = _first(self._fetch(_HAS_SCHEMA, None, conn))
        if not present or not present["present"]:
            return None
        row = _first(self._fetch(_SCHEMA_VERSION, None, conn))
        return None if row is None or row["version"] is None else int(row["version"])

    def next_visible_in(self, queue_name: str, *, conn: psycopg.Connection[Any] | None = None) -> float | None:
        """Seconds until the queue's next message becomes visible (<= 0: one is visible now;
        None: the queue is empty)."""
        row = _first(self._fetch(_next_visible_query(queue_name), None, conn, flow_slug=queue_name))
        return None if row is None or row["seconds"] is None else float(row["seconds"])


def _has_rows(cur: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> bool:
    # cur.description would build a Column object per column on every call
    return cur.pgresult is not None and cur.pgresult.status == ExecStatus.TUPLES_OK


def _execute(
    c: psycopg.Connection[Any], query: LiteralString | sql.Composed, params: Mapping[str, Any] | None
) -> list[DictRow]:
    return _execute_as(c, query, params, dict_row)


def _execute_as(
    c: psycopg.Connection[Any], query: LiteralString | sql.Composed, params: Params | None, rows: RowFactory[R]
) -> list[R]:
    with c.cursor(row_factory=rows) as cur:
        cur.execute(query, params)
        return cur.fetchall() if _has_rows(cur) else []


def _sync_listen(c: psycopg.Connection[Any]) -> tuple[bool, bool]:
    """LISTEN on the events channel when the connection can receive notifications (it is not
    inside a caller's transaction). Returns (listening, autocommit to restore)."""
    restore = c.autocommit
    if c.info.transaction_status != TransactionStatus.IDLE:
        return False, restore
    c.autocommit = True  # notifications are only delivered between transactions
    c.execute(_LISTEN)
    return True, restore


def _sync_unlisten(c: psycopg.Connection[Any], listening: bool, restore: bool) -> None:
    if not listening or c.closed:
        return
    with contextlib.suppress(psycopg.Error):
        c.execute(_UNLISTEN)
        c.autocommit = restore


async def listen_for_tasks(conn: psycopg.AsyncConnection[Any]) -> None:
    """LISTEN on the worker wake-up channel (the connection must be in autocommit mode)."""
    try:
        await conn.execute("listen pgflow_tasks")
    except psycopg.Error as exc:
        raise map_sql_error(exc) from exc


# --------------------------------------------------------------------------------------------
# Async client
# --------------------------------------------------------------------------------------------


class AsyncPgflowSqlClient:
    """pgflow's SQL API over a psycopg ``AsyncConnection`` or ``AsyncConnectionPool``."""

    def __init__(
        self,
        source: psycopg.AsyncConnection[Any] | AsyncConnectionPool[Any],
        *,
        max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
        max_error_chars: int = DEFAULT_MAX_ERROR_CHARS,
    ) -> None:
        self._source = source
        self._settings = _Settings(max_output_bytes, max_error_chars)

    @contextlib.asynccontextmanager
    async def _borrow(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if isinstance(self._source, AsyncConnectionPool):
            async with self._source.connection() as c:
                yield c
        else:
            yield self._source

    async def _fetch(
        self,
        query: LiteralString | sql.Composed,
        params: Mapping[str, Any] | None,
        conn: psycopg.AsyncConnection[Any] | None,
        **context: Any,
    ) -> list[DictRow]:
        return await self._fetch_as(dict_row, query, params, conn, **context)

    async def _fetch_as(
        self,
        rows: AsyncRowFactory[R],
        query: LiteralString | sql.Composed,
        params: Params | None,
        conn: psycopg.AsyncConnection[Any] | None,
        **context: Any,
    ) -> list[R]:
        try:
            if conn is not None:
                return await _aexecute_as(conn, query, params, rows)
            async with self._borrow() as c:
                if c.autocommit or isinstance(self._source, AsyncConnectionPool):
                    return await _aexecute_as(c, query, params, rows)
                async with c.transaction():
                    return await _aexecute_as(c, query, params, rows)
        except psycopg.Error as exc:
            raise map_sql_error(exc, **context) from exc

    async def read_messages(
        self,
        queue_name: str,
        vt: int,
        qty: int,
        *,
        max_poll_seconds: float = 5,
        poll_interval_ms: int = 100,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[QueueMessage]:
        """``pgmq.read_with_poll`` (or ``pgmq.read`` when ``max_poll_seconds`` is 0)."""
        rows = await self._fetch(
            _read_query(max_poll_seconds),
            _read_params(queue_name, vt, qty, max_poll_seconds, poll_interval_ms),
            conn,
            flow_slug=queue_name,
        )
        return [QueueMessage.from_row(r) for r in rows]

    async def read_and_start_tasks(
        self,
        queue_name: str,
        worker_id: uuid.UUID | str,
        vt: int,
        qty: int,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[tuple[StepTask, QueueMessage]]:
        """See :meth:`PgflowSqlClient.read_and_start_tasks`."""
        params = (queue_name, worker_id, int(vt), int(qty))
        rows = await self._fetch_as(
            tuple_row, _READ_AND_START_TASKS, params, conn, flow_slug=queue_name, worker_id=str(worker_id)
        )
        return _started(rows)

    async def start_tasks(
        self,
        flow_slug: str,
        msg_ids: Sequence[int],
        worker_id: uuid.UUID | str,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[StepTask]:
        if not msg_ids:
            return []
        params = {"flow_slug": flow_slug, "msg_ids": list(msg_ids), "worker_id": worker_id}
        try:
            async with contextlib.AsyncExitStack() as stack:
                c = conn if conn is not None else await stack.enter_async_context(self._borrow())
                async with c.transaction():
                    rows = await _aexecute(c, _START_TASKS, params)
                    attempts = await _aexecute(c, _STARTED_ATTEMPTS, params) if rows else []
        except psycopg.Error as exc:
            raise map_sql_error(exc, flow_slug=flow_slug, worker_id=str(worker_id)) from exc
        return _with_attempts(rows, attempts)

    async def complete_task(
        self,
        run_id: uuid.UUID | str,
        step_slug: str,
        task_index: int,
        output: Any,
        *,
        expected_attempt: int | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> TaskRow | None:
        params = self._settings.complete_params(run_id, step_slug, task_index, output)
        if expected_attempt is None:
            row = _first(await self._fetch(_COMPLETE_TASK, params, conn, run_id=str(run_id), step_slug=step_slug))
        else:
            row = _first(
                await self._fetch(
                    _GUARDED_COMPLETE,
                    {**params, "expected_attempt": expected_attempt},
                    conn,
                    run_id=str(run_id),
                    step_slug=step_slug,
                )
            )
        return None if row is None else TaskRow.from_row(row)

    def completion(self, run_id: uuid.UUID | str, step_slug: str, task_index: int, output: Any) -> Completion:
        """Check and serialise a result for :meth:`complete_tasks` (raises InvalidOutput)."""
        params = self._settings.complete_params(run_id, step_slug, task_index, output)
        return Completion(run_id, step_slug, task_index, params["output"])

    async def complete_tasks(
        self, completions: Sequence[Completion], *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> list[TaskRow]:
        """See :meth:`PgflowSqlClient.complete_tasks`."""
        if not completions:
            return []
        rows = await self._fetch(_COMPLETE_TASKS, _complete_tasks_params(completions), conn)
        return [TaskRow.from_row(r) for r in rows]

    async def complete_tasks_count(
        self, completions: Sequence[Completion], *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> int:
        """See :meth:`PgflowSqlClient.complete_tasks_count` (the worker's path)."""
        if not completions:
            return 0
        rows = await self._fetch_as(tuple_row, _COMPLETE_TASKS_COUNT, _complete_tasks_args(completions), conn)
        return int(rows[0][0])

    async def complete_tasks_and_claim(
        self,
        completions: Sequence[Completion],
        worker_id: uuid.UUID | str,
        qty: int,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[tuple[StepTask, QueueMessage]]:
        """See :meth:`PgflowSqlClient.complete_tasks_and_claim` (the worker's path)."""
        if not completions:
            return []
        params = (*_complete_tasks_args(completions), worker_id, int(qty))
        rows = await self._fetch_as(tuple_row, _COMPLETE_TASKS_AND_CLAIM, params, conn, worker_id=str(worker_id))
        return _started(rows)

    async def fail_task(
        self,
        run_id: uuid.UUID | str,
        step_slug: str,
        task_index: int,
        error_message: str,
        *,
        expected_attempt: int | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> TaskRow | None:
        params = self._settings.fail_params(run_id, step_slug, task_index, error_message)
        if expected_attempt is None:
            row = _first(await self._fetch(_FAIL_TASK, params, conn, run_id=str(run_id), step_slug=step_slug))
        else:
            row = _first(
                await self._fetch(
                    _GUARDED_FAIL,
                    {**params, "expected_attempt": expected_attempt},
                    conn,
                    run_id=str(run_id),
                    step_slug=step_slug,
                )
            )
        return None if row is None else TaskRow.from_row(row)

    async def start_flow(
        self,
        flow_slug: str,
        input: Any,
        run_id: uuid.UUID | str | None = None,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> Run:
        params = self._settings.start_flow_params(flow_slug, input, run_id)
        row = _first(await self._fetch(_START_FLOW, params, conn, flow_slug=flow_slug))
        if row is None:
            raise PgflowError(f"start_flow returned no run for flow {flow_slug!r}")
        return Run.from_row(row)

    async def get_run(
        self, run_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> RunWithStates | None:
        row = _first(await self._fetch(_GET_RUN, {"run_id": run_id}, conn, run_id=str(run_id)))
        return None if row is None or row["result"] is None else RunWithStates.from_json(row["result"])

    async def get_flow_input(self, run_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None) -> Any:
        row = _first(await self._fetch(_FLOW_INPUT, {"run_id": run_id}, conn, run_id=str(run_id)))
        if row is None:
            raise RunNotFound(f"run {run_id} not found")
        return row["input"]

    async def wait_for_run(
        self, run_id: uuid.UUID | str, timeout: float = 60.0, *, poll_interval: float = 1.0
    ) -> RunWithStates:
        """Wait until the run is completed or failed; see :meth:`PgflowSqlClient.wait_for_run`."""
        rid = str(run_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._borrow() as c:
            listening, restore = await _async_listen(c)
            try:
                while True:
                    state = await self.get_run(rid, conn=c)
                    if state is None:
                        raise RunNotFound(f"run {rid} not found")
                    if state.run.status.is_terminal:
                        return state
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise RunTimeout(f"run {rid} still {state.run.status} after {timeout} s")
                    wait = min(remaining, poll_interval)
                    if listening:
                        async for n in c.notifies(timeout=wait):
                            if _is_run_end(n.payload, rid):
                                break
                    else:
                        await asyncio.sleep(wait)
            finally:
                await _async_unlisten(c, listening, restore)

    async def register_worker(
        self,
        worker_id: uuid.UUID | str,
        queue_name: str,
        function_name: str,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> None:
        params = {"worker_id": worker_id, "queue_name": queue_name, "function_name": function_name}
        await self._fetch(_REGISTER_WORKER, params, conn, worker_id=str(worker_id))

    async def heartbeat(self, worker_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None) -> bool:
        """Record a heartbeat; return True when an operator has deprecated this worker."""
        row = _first(await self._fetch(_HEARTBEAT, {"worker_id": worker_id}, conn, worker_id=str(worker_id)))
        if row is None:
            raise WorkerNotFound(f"worker {worker_id} has no row in pgflow.workers")
        return bool(row["is_deprecated"])

    async def mark_worker_stopped(
        self, worker_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> None:
        await self._fetch(_MARK_STOPPED, {"worker_id": worker_id}, conn, worker_id=str(worker_id))

    async def ensure_flow_compiled(
        self,
        flow_slug: str,
        shape: Mapping[str, Any],
        allow_data_loss: bool = False,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> CompileResult:
        params = {"flow_slug": flow_slug, "shape": json.dumps(shape), "allow_data_loss": allow_data_loss}
        rows = await self._fetch(_ENSURE_COMPILED, params, conn, flow_slug=flow_slug)
        return _compile_result(flow_slug, _first(rows))

    async def verify_flow_shape(
        self, flow_slug: str, shape: Mapping[str, Any], *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> CompileResult:
        params = {"flow_slug": flow_slug, "shape": json.dumps(shape)}
        rows = await self._fetch(_VERIFY_SHAPE, params, conn, flow_slug=flow_slug)
        return _verify_result(flow_slug, _first(rows))

    async def requeue_stalled_tasks(self, *, conn: psycopg.AsyncConnection[Any] | None = None) -> int | None:
        """See :meth:`PgflowSqlClient.requeue_stalled_tasks`."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                c = conn if conn is not None else await stack.enter_async_context(self._borrow())
                async with c.transaction():
                    locked = _first(await _aexecute(c, _TRY_MAINTENANCE_LOCK, {"key": MAINTENANCE_LOCK_KEY}))
                    if not locked or not locked["locked"]:
                        return None
                    row = _first(await _aexecute(c, _REQUEUE_STALLED, None))
                    return int(row["requeued"] or 0) if row else 0
        except psycopg.Error as exc:
            raise map_sql_error(exc) from exc

    async def schema_version(self, *, conn: psycopg.AsyncConnection[Any] | None = None) -> int | None:
        present = _first(await self._fetch(_HAS_SCHEMA, None, conn))
        if not present or not present["present"]:
            return None
        row = _first(await self._fetch(_SCHEMA_VERSION, None, conn))
        return None if row is None or row["version"] is None else int(row["version"])

    async def next_visible_in(
        self, queue_name: str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> float | None:
        row = _first(await self._fetch(_next_visible_query(queue_name), None, conn, flow_slug=queue_name))
        return None if row is None or row["seconds"] is None else float(row["seconds"])


async def _aexecute(
    c: psycopg.AsyncConnection[Any], query: LiteralString | sql.Composed, params: Mapping[str, Any] | None
) -> list[DictRow]:
    return await _aexecute_as(c, query, params, dict_row)


async def _aexecute_as(
    c: psycopg.AsyncConnection[Any],
    query: LiteralString | sql.Composed,
    params: Params | None,
    rows: AsyncRowFactory[R],
) -> list[R]:
    async with c.cursor(row_factory=rows) as cur:
        await cur.execute(query, params)
        return await cur.fetchall() if _has_rows(cur) else []


async def _async_listen(c: psycopg.AsyncConnection[Any]) -> tuple[bool, bool]:
    restore = c.autocommit
    if c.info.transaction_status != TransactionStatus.IDLE:
        return False, restore
    await c.set_autocommit(True)
    await c.execute(_LISTEN)
    return True, restore


async def _async_unlisten(c: psycopg.AsyncConnection[Any], listening: bool, restore: bool) -> None:
    if not listening or c.closed:
        return
    with contextlib.suppress(psycopg.Error):
        await c.execute(_UNLISTEN)
        await c.set_autocommit(restore)
