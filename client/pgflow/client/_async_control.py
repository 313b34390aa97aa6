"""Run control, the async side: cancel, retry and resume a run, start one idempotently, prune
finished runs, and the calls a worker makes for a running handler (extend its deadline, fail with
a delay of its choosing), and a flow's opt-in retry policy. Written by hand; ``_sync_control.py``
is generated from it by ``scripts/async_to_sync.py`` (as ``_sync.py`` from ``_async.py``).

:class:`AsyncRunControl` is a mixin of :class:`~pgflow.client.AsyncPgflowSqlClient`: it uses the
client's ``_fetch`` and ``_settings``. Errors: an unknown run raises RunNotFound, retrying a run
that is neither failed nor cancelled RunStateError, an idempotency key reused with another input
IdempotencyConflict (see :func:`pgflow.errors.map_sql_error`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import DictRow

from pgflow import queries as q
from pgflow.client._values import first
from pgflow.durations import parse_duration
from pgflow.errors import InvalidInput, PgflowError
from pgflow.types import Run, TaskRow

if TYPE_CHECKING:
    from pgflow.client._base import ClientSettings, Params, Query

DEFAULT_PRUNE_BATCH = 1000
"""Runs one ``pgflow.prune_runs`` call deletes at most (its own default)."""


class AsyncRunControl:
    """The run-control methods of the SQL client (a mixin of it: it uses the client's ``_fetch``)."""

    if TYPE_CHECKING:
        _settings: ClientSettings

        async def _fetch(
            self, query: Query, params: Params | None, conn: psycopg.AsyncConnection[Any] | None, **context: Any
        ) -> list[DictRow]: ...

    async def _run_call(
        self, query: Query, run_id: uuid.UUID | str, conn: psycopg.AsyncConnection[Any] | None, what: str
    ) -> Run:
        row = first(await self._fetch(query, {"run_id": run_id}, conn, run_id=str(run_id)))
        if row is None or row["run_id"] is None:
            raise PgflowError(f"{what} returned no run for run {run_id}")
        return Run.from_row(row)

    async def cancel_run(self, run_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None) -> Run:
        """``pgflow.cancel_run``: a started run ends ``cancelled`` (its unfinished steps and tasks
        too, their messages archived); a finished run is returned unchanged. RunNotFound."""
        return await self._run_call(q.CANCEL_RUN, run_id, conn, "cancel_run")

    async def retry_run(self, run_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None) -> Run:
        """``pgflow.retry_run``: a new run of a failed or cancelled run's flow with the same input,
        its ``retry_of_run_id`` naming the old run (a run retried already returns its retry).
        RunNotFound; RunStateError when the run is started or completed."""
        return await self._run_call(q.RETRY_RUN, run_id, conn, "retry_run")

    async def resume_run(self, run_id: uuid.UUID | str, *, conn: psycopg.AsyncConnection[Any] | None = None) -> Run:
        """``pgflow.resume_run``: a failed or cancelled run continues where it stopped (completed
        steps and tasks are not run again); a started or completed run is returned unchanged.
        RunNotFound."""
        return await self._run_call(q.RESUME_RUN, run_id, conn, "resume_run")

    async def start_flow_idempotent(
        self,
        flow_slug: str,
        input: Any,
        idempotency_key: str,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> Run:
        """``pgflow.start_flow_idempotent``: the first call with a (flow, key) starts a run, every
        later one returns that run and starts nothing. IdempotencyConflict when the key was used
        with another input; InvalidInput for an empty key."""
        if not isinstance(idempotency_key, str) or not idempotency_key:
            raise InvalidInput(f"idempotency_key must be a non-empty text, got {idempotency_key!r}")
        params = self._settings.start_flow_params(flow_slug, input, None)
        params = {"flow_slug": flow_slug, "input": params["input"], "idempotency_key": idempotency_key}
        rows = await self._fetch(q.START_FLOW_IDEMPOTENT, params, conn, flow_slug=flow_slug)
        row = first(rows)
        if row is None:
            raise PgflowError(f"start_flow_idempotent returned no run for flow {flow_slug!r}")
        return Run.from_row(row)

    async def prune_runs(
        self,
        older_than: timedelta | str,
        max_runs: int = DEFAULT_PRUNE_BATCH,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> int:
        """``pgflow.prune_runs``: delete up to ``max_runs`` finished runs (completed, failed,
        cancelled) that finished more than ``older_than`` ago (a timedelta or ``"7d"``), with all
        that belongs to them, in one short transaction. Returns how many it deleted: call again
        while that is ``max_runs``."""
        try:
            age = parse_duration(older_than, "older_than")
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if max_runs < 1:
            raise InvalidInput(f"max_runs must be at least 1, got {max_runs}")
        row = first(await self._fetch(q.PRUNE_RUNS, {"older_than": age, "max_runs": max_runs}, conn))
        return 0 if row is None else int(row["pruned"] or 0)

    async def extend_task_timeout(
        self,
        run_id: uuid.UUID | str,
        step_slug: str,
        task_index: int,
        seconds: int,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> datetime | None:
        """``pgflow.extend_task_timeout``: a started task's deadline becomes at least ``seconds``
        from now (its message stays hidden, the stalled-task sweep leaves it alone). Returns the
        new deadline, None when the task is no longer started (its worker lost it). TaskNotFound."""
        params = {"run_id": run_id, "step_slug": step_slug, "task_index": task_index, "seconds": int(seconds)}
        row = first(await self._fetch(q.EXTEND_TASK_TIMEOUT, params, conn, run_id=str(run_id), step_slug=step_slug))
        return None if row is None else row["deadline_at"]

    async def fail_task_with_delay(
        self,
        run_id: uuid.UUID | str,
        step_slug: str,
        task_index: int,
        error_message: str,
        retry_delay_seconds: int | None,
        *,
        expected_attempt: int | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> TaskRow | None:
        """``pgflow.fail_task_with_delay``: :meth:`fail_task`, but a retry waits
        ``retry_delay_seconds`` (the handler's choice) instead of the computed backoff; None as
        the delay is exactly fail_task. Returns the task row (None as for fail_task)."""
        params: dict[str, Any] = self._settings.fail_params(run_id, step_slug, task_index, error_message)
        params["retry_delay_seconds"] = None if retry_delay_seconds is None else int(retry_delay_seconds)
        query = q.FAIL_TASK_WITH_DELAY
        if expected_attempt is not None:
            query, params = q.GUARDED_FAIL_TASK_WITH_DELAY, {**params, "expected_attempt": expected_attempt}
        row = first(await self._fetch(query, params, conn, run_id=str(run_id), step_slug=step_slug))
        return None if row is None else TaskRow.from_row(row)

    async def set_retry_policy(
        self,
        flow_slug: str,
        step_slug: str | None = None,
        *,
        retry_jitter: float | None = None,
        max_retry_delay: int | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> None:
        """``pgflow.set_retry_policy``: a flow's (or, with ``step_slug``, one step's) opt-in jitter
        (fraction in [0, 1]) and maximum retry delay (seconds); None clears one. FlowNotFound,
        StepNotFound, InvalidInput."""
        params = {
            "flow_slug": flow_slug,
            "step_slug": step_slug,
            "retry_jitter": retry_jitter,
            "max_retry_delay": max_retry_delay,
        }
        await self._fetch(q.SET_RETRY_POLICY, params, conn, flow_slug=flow_slug, step_slug=step_slug)
