"""The dashboard's read side: each function runs the statements of one page (pgflow.queries,
section "the dashboard") and returns frozen rows decoded by column name.

Only SELECTs, so a read-only role can serve every page (see the README's "Dashboard" section).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import class_row

from pgflow import queries
from pgflow.ui.layout import Layout, layout_dag

PAGE_SIZE = 50
TASKS_PER_STEP = 50
STEP_TASKS_PAGE = 200
HISTORY_LIMIT = 500
WORKERS_LIMIT = 500

AsyncConn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: uuid.UUID
    flow_slug: str
    status: str
    remaining_steps: int
    started_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in the runs list: the (started_at, run_id) of a row."""

    started_at: dt.datetime
    run_id: uuid.UUID

    def encode(self) -> str:
        return f"{self.started_at.isoformat()}~{self.run_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        stamp, sep, rid = text.partition("~")
        try:
            if not sep:
                raise ValueError
            started_at = dt.datetime.fromisoformat(stamp)
            if started_at.tzinfo is None:
                raise ValueError
            return cls(started_at, uuid.UUID(rid))
        except ValueError:
            raise ValueError(f"not a runs-list position: {text!r} (expected <started_at>~<run_id>)") from None

    @classmethod
    def of(cls, row: RunRow) -> Cursor:
        return cls(row.started_at, row.run_id)


@dataclass(frozen=True, slots=True)
class RunFilters:
    flow_slug: str | None = None
    status: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RunsPage:
    rows: list[RunRow]
    newer: Cursor | None  # the first row, when there may be newer rows (a "newer" link)
    older: Cursor | None  # the last row, when there are older rows (an "older" link)


async def runs_page(
    conn: AsyncConn, filters: RunFilters, *, after: Cursor | None = None, before: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> RunsPage:
    """One page of runs, newest first: the runs older than `after`, or the ones just newer than
    `before` (for a "newer" link), or the newest ones."""
    params: dict[str, Any] = {
        "flow_slug": filters.flow_slug, "status": filters.status, "since": filters.since,
        "until": filters.until, "limit": limit + 1,
    }
    async with conn.cursor(row_factory=class_row(RunRow)) as cur:
        if before is not None:
            await cur.execute(queries.UI_RUNS_NEWER,
                              {**params, "cursor_started_at": before.started_at, "cursor_run_id": before.run_id})
            rows = await cur.fetchall()
            more_newer = len(rows) > limit
            rows = list(reversed(rows[:limit]))
            return RunsPage(rows=rows, newer=Cursor.of(rows[0]) if more_newer and rows else None,
                            older=Cursor.of(rows[-1]) if rows else None)
        await cur.execute(queries.UI_RUNS_OLDER, {
            **params,
            "cursor_started_at": after.started_at if after else None,
            "cursor_run_id": after.run_id if after else None,
        })
        rows = await cur.fetchall()
    more_older = len(rows) > limit
    rows = rows[:limit]
    return RunsPage(rows=rows, newer=Cursor.of(rows[0]) if after is not None and rows else None,
                    older=Cursor.of(rows[-1]) if more_older else None)


@dataclass(frozen=True, slots=True)
class Run:
    run_id: uuid.UUID
    flow_slug: str
    status: str
    input: Any
    output: Any
    remaining_steps: int
    started_at: dt.datetime
    completed_at: dt.datetime | None
    failed_at: dt.datetime | None
    cancelled_at: dt.datetime | None  # run control's columns: None on a schema without them
    retry_of_run_id: uuid.UUID | None

    @property
    def finished_at(self) -> dt.datetime | None:
        return self.completed_at or self.failed_at or self.cancelled_at


@dataclass(frozen=True, slots=True)
class Task:
    step_slug: str
    task_index: int
    status: str
    attempts_count: int
    error_message: str | None
    output: Any
    queued_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    failed_at: dt.datetime | None
    last_worker_id: uuid.UUID | None
    requeued_count: int


@dataclass(frozen=True, slots=True)
class RunStep:
    step_slug: str
    step_type: str
    step_index: int
    status: str | None  # None: the run has no state for this step (a flow changed since)
    initial_tasks: int | None
    remaining_tasks: int | None
    remaining_deps: int | None
    output: Any
    error_message: str | None
    skip_reason: str | None
    created_at: dt.datetime | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    failed_at: dt.datetime | None
    skipped_at: dt.datetime | None
    tasks_queued: int
    tasks_started: int
    tasks_completed: int
    tasks_failed: int
    tasks_total: int
    tasks: list[Task] = field(default_factory=list)

    @property
    def finished_at(self) -> dt.datetime | None:
        return self.completed_at or self.failed_at or self.skipped_at

    @property
    def done(self) -> int:
        """Tasks completed (a completed step counts all its initial tasks)."""
        if self.status == "completed" and self.initial_tasks is not None:
            return self.initial_tasks
        return self.tasks_completed

    @property
    def total(self) -> int | None:
        return self.initial_tasks if self.initial_tasks is not None else None


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    at: dt.datetime
    event: str
    step_slug: str | None
    task_index: int | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class RetryRow:
    """A run that pgflow.retry_run started from the run shown."""

    run_id: uuid.UUID
    status: str
    started_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RunView:
    run: Run
    steps: list[RunStep]
    layout: Layout
    history: list[HistoryEvent]
    retried_as: list[RetryRow] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.run.status == "started"

    @property
    def states(self) -> dict[str, RunStep]:
        return {s.step_slug: s for s in self.steps}


async def _flow_layout(conn: AsyncConn, flow_slug: str, step_slugs: list[str]) -> Layout:
    cur = await conn.execute(queries.UI_FLOW_DEPS, {"flow_slug": flow_slug})
    edges = [(dep, step) for dep, step in await cur.fetchall()]
    return layout_dag(step_slugs, edges)


async def run_view(conn: AsyncConn, run_id: uuid.UUID) -> RunView | None:
    """Everything the run page shows, or None for an unknown run."""
    async with conn.cursor(row_factory=class_row(Run)) as cur:
        await cur.execute(queries.UI_RUN, {"run_id": run_id})
        run = await cur.fetchone()
    if run is None:
        return None
    async with conn.cursor(row_factory=class_row(RunStep)) as cur:
        await cur.execute(queries.UI_RUN_STEPS, {"run_id": run_id})
        steps = await cur.fetchall()
    async with conn.cursor(row_factory=class_row(Task)) as cur:
        await cur.execute(queries.UI_RUN_TASKS, {"run_id": run_id, "per_step": TASKS_PER_STEP})
        tasks = await cur.fetchall()
    by_step: dict[str, list[Task]] = {}
    for t in tasks:
        by_step.setdefault(t.step_slug, []).append(t)
    for s in steps:
        s.tasks.extend(by_step.get(s.step_slug, ()))
    async with conn.cursor(row_factory=class_row(HistoryEvent)) as cur:
        await cur.execute(queries.UI_RUN_HISTORY, {"run_id": run_id, "limit": HISTORY_LIMIT})
        history = await cur.fetchall()
    async with conn.cursor(row_factory=class_row(RetryRow)) as cur:
        await cur.execute(queries.UI_RUN_RETRIES, {"run_id": run_id})
        retried_as = await cur.fetchall()
    layout = await _flow_layout(conn, run.flow_slug, [s.step_slug for s in steps])
    return RunView(run=run, steps=steps, layout=layout, history=history, retried_as=retried_as)


@dataclass(frozen=True, slots=True)
class StepTasksView:
    run: Run
    step: RunStep
    tasks: list[Task]
    next_after: int | None  # the last task index shown, when there are more


async def step_tasks_view(conn: AsyncConn, run_id: uuid.UUID, step_slug: str, *, status: str | None,
                          after: int = -1, limit: int = STEP_TASKS_PAGE) -> StepTasksView | None:
    """One page of a step's tasks (all of them, by index), or None for an unknown run or step."""
    async with conn.cursor(row_factory=class_row(Run)) as cur:
        await cur.execute(queries.UI_RUN, {"run_id": run_id})
        run = await cur.fetchone()
    if run is None:
        return None
    async with conn.cursor(row_factory=class_row(RunStep)) as cur:
        await cur.execute(queries.UI_RUN_STEPS, {"run_id": run_id})
        step = next((s for s in await cur.fetchall() if s.step_slug == step_slug), None)
    if step is None:
        return None
    async with conn.cursor(row_factory=class_row(Task)) as cur:
        await cur.execute(queries.UI_STEP_TASKS, {"run_id": run_id, "step_slug": step_slug, "after": after,
                                                  "status": status, "limit": limit + 1})
        tasks = await cur.fetchall()
    more = len(tasks) > limit
    tasks = tasks[:limit]
    return StepTasksView(run=run, step=step, tasks=tasks, next_after=tasks[-1].task_index if more else None)


@dataclass(frozen=True, slots=True)
class FlowRow:
    flow_slug: str
    opt_max_attempts: int
    opt_base_delay: int
    opt_timeout: int
    created_at: dt.datetime
    step_count: int = 0
    schedules: list[str] = field(default_factory=list)  # cron expressions ("... (paused)")


@dataclass(frozen=True, slots=True)
class FlowStep:
    step_slug: str
    step_type: str
    step_index: int
    deps_count: int
    opt_max_attempts: int | None
    opt_base_delay: int | None
    opt_timeout: int | None
    opt_start_delay: int | None
    required_input_pattern: Any
    forbidden_input_pattern: Any
    when_unmet: str
    when_exhausted: str


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    schedule_slug: str
    cron: str
    timezone: str
    input: Any
    enabled: bool
    overlap_policy: str
    catchup_policy: str
    next_scheduled_start_time: dt.datetime
    last_run_id: uuid.UUID | None
    last_scheduled_for: dt.datetime | None


@dataclass(frozen=True, slots=True)
class FlowView:
    flow: FlowRow
    steps: list[FlowStep]
    layout: Layout
    recent: RunsPage
    schedules: list[ScheduleRow] = field(default_factory=list)

    @property
    def states(self) -> dict[str, FlowStep]:
        return {s.step_slug: s for s in self.steps}


async def flows(conn: AsyncConn) -> list[FlowRow]:
    async with conn.cursor(row_factory=class_row(FlowRow)) as cur:
        await cur.execute(queries.UI_FLOWS)
        return await cur.fetchall()


async def flow_view(conn: AsyncConn, flow_slug: str) -> FlowView | None:
    async with conn.cursor(row_factory=class_row(FlowRow)) as cur:
        await cur.execute(queries.UI_FLOW, {"flow_slug": flow_slug})
        flow = await cur.fetchone()
    if flow is None:
        return None
    async with conn.cursor(row_factory=class_row(FlowStep)) as cur:
        await cur.execute(queries.UI_FLOW_STEPS, {"flow_slug": flow_slug})
        steps = await cur.fetchall()
    layout = await _flow_layout(conn, flow_slug, [s.step_slug for s in steps])
    recent = await runs_page(conn, RunFilters(flow_slug=flow_slug), limit=10)
    async with conn.cursor(row_factory=class_row(ScheduleRow)) as cur:
        await cur.execute(queries.UI_FLOW_SCHEDULES, {"flow_slug": flow_slug})
        schedules = await cur.fetchall()
    return FlowView(flow=flow, steps=steps, layout=layout, recent=recent, schedules=schedules)


@dataclass(frozen=True, slots=True)
class WorkerRow:
    worker_id: uuid.UUID
    queue_name: str
    function_name: str
    started_at: dt.datetime
    deprecated_at: dt.datetime | None
    stopped_at: dt.datetime | None
    last_heartbeat_at: dt.datetime
    heartbeat_age: dt.timedelta
    tasks_started: int

    def state(self, silent_after: dt.timedelta) -> str:
        """stopped, deprecated, alive, or silent (no heartbeat for `silent_after`)."""
        if self.stopped_at is not None:
            return "stopped"
        if self.deprecated_at is not None:
            return "deprecated"
        return "alive" if self.heartbeat_age <= silent_after else "silent"


@dataclass(frozen=True, slots=True)
class QueueRow:
    queue_name: str
    queue_length: int
    newest_msg_age_sec: int | None
    oldest_msg_age_sec: int | None
    total_messages: int


@dataclass(frozen=True, slots=True)
class WorkersView:
    workers: list[WorkerRow]
    queues: list[QueueRow]
    queues_error: str | None


async def workers_view(conn: AsyncConn) -> WorkersView:
    async with conn.cursor(row_factory=class_row(WorkerRow)) as cur:
        await cur.execute(queries.UI_WORKERS, {"limit": WORKERS_LIMIT})
        workers = await cur.fetchall()
    try:
        async with conn.transaction(), conn.cursor(row_factory=class_row(QueueRow)) as cur:
            await cur.execute(queries.UI_QUEUE_METRICS)
            queues = await cur.fetchall()
    except psycopg.errors.InsufficientPrivilege as exc:
        message = f"queue depth unavailable: {exc.diag.message_primary}"
        return WorkersView(workers=workers, queues=[], queues_error=message)
    return WorkersView(workers=workers, queues=queues, queues_error=None)
