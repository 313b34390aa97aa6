"""Workers tick schedules: two worker processes ticking one `*/1 * * * *` schedule over a
simulated 3 minutes start exactly 3 runs, and a worker whose flow has a schedule in its
definition creates it on start and runs the scheduled flow to completion. The clock is a file
both processes read (tests/support/clock.py); the test moves it and waits until each worker has
ticked at the new instant, so nothing depends on timing."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgflow.client import PgflowSqlClient
from pgflow.worker import Worker
from tests.support.clock import reads_of, set_clock
from tests.support.process_flows import sched_flow
from tests.support.processes import WorkerProcess, spawn_worker
from tests.support.sql import one
from tests.support.waiting import await_until, wait_until
from tests.support.worker import FAST, running

FLOWS = "tests.support.process_flows"
T0 = datetime(2030, 1, 1, tzinfo=UTC)
TICKING = {**FAST, "schedule_tick_interval": 0.02, "maintenance_interval": 0}
STARTED_LINE = re.compile(r"schedule (\w+) started run ([0-9a-f-]{36}) \(scheduled for ([^)]+)\)")


def _started_lines(w: WorkerProcess) -> list[tuple[str, str, str]]:
    return [m.groups() for m in STARTED_LINE.finditer(w.log_text())]  # type: ignore[misc]


def test_two_worker_processes_ticking_three_simulated_minutes_start_exactly_three_runs(
    db_dsn: str, conn: psycopg.Connection[Any], procs: list[WorkerProcess], tmp_path: Path
) -> None:
    for statement in sched_flow.compile():
        conn.execute(statement.encode())
    client = PgflowSqlClient(conn)
    client.create_schedule("proc_minutely", "proc_sched", "*/1 * * * *", {"source": "test"}, start_after=T0)
    clock = tmp_path / "clock"
    set_clock(clock, T0)
    workers = [spawn_worker(db_dsn, f"{FLOWS}:sched_flow", tmp_path, name=f"ticker{i}", clock_file=clock,
                            **TICKING) for i in range(2)]
    procs.extend(workers)
    for w in workers:
        w.expect("READY")

    # every 10 simulated seconds, and each worker finishes a tick at each instant before the next
    for second in range(10, 181, 10):
        at = T0 + timedelta(seconds=second)
        set_clock(clock, at)
        wait_until(f"both workers to tick at {at}", lambda at=at: all(reads_of(clock, w.pid, at) >= 2 for w in workers))

    minutes = [T0 + timedelta(minutes=m) for m in (1, 2, 3)]
    rows = conn.execute(
        "select sr.scheduled_for, r.input from pgflow.schedule_runs as sr"
        " inner join pgflow.runs as r on r.run_id = sr.run_id where sr.schedule_slug = 'proc_minutely' order by 1"
    ).fetchall()
    assert [r[0] for r in rows] == minutes
    assert [r[1] for r in rows] == [{"source": "test", "scheduled_for": f"2030-01-01T00:0{m}:00Z"} for m in (1, 2, 3)]
    assert one(conn, "select count(*) from pgflow.runs") == 3
    logged = [line for w in workers for line in _started_lines(w)]
    assert sorted(s for _, _, s in logged) == [m.isoformat() for m in minutes], "each start is logged once"
    # the workers run what they started
    wait_until("the three scheduled runs to complete",
               lambda: one(conn, "select count(*) from pgflow.runs where status = 'completed'") == 3, timeout=60)
    outputs = {r[0] for r in conn.execute("select output->>'stamp' from pgflow.runs").fetchall()}
    assert outputs == {f"2030-01-01T00:0{m}:00Z" for m in (1, 2, 3)}


def test_a_worker_creates_its_flows_schedule_and_runs_it_to_completion(
    db_dsn: str, conn: psycopg.Connection[Any], procs: list[WorkerProcess], tmp_path: Path
) -> None:
    clock = tmp_path / "clock"
    # the schedule is created at the database's clock (`* * * * *`: the next minute); the workers'
    # clock is ten minutes ahead, so its first tick owes the latest of those minutes
    ahead = datetime.now(UTC) + timedelta(minutes=10)
    set_clock(clock, ahead)
    w = spawn_worker(db_dsn, f"{FLOWS}:scheduled_flow", tmp_path, name="scheduled", clock_file=clock, **TICKING)
    procs.append(w)
    w.expect("READY")
    schedule = PgflowSqlClient(conn).list_schedules(flow_slug="proc_scheduled")
    assert [(s.schedule_slug, s.cron, s.enabled) for s in schedule] == [("proc_scheduled", "* * * * *", True)]

    run_id = wait_until("the scheduled run to complete", lambda: one(
        conn, "select run_id from pgflow.runs where flow_slug = 'proc_scheduled' and status = 'completed'"),
        timeout=60)
    due = ahead.replace(second=0, microsecond=0)
    output = one(conn, "select output from pgflow.runs where run_id = %s", run_id)
    assert output == {"stamp": {"scheduled_for": due.isoformat().replace("+00:00", "Z"),
                                "input": {"scheduled_for": due.isoformat().replace("+00:00", "Z")}}}
    assert one(conn, "select count(*) from pgflow.runs") == 1, "latest catch-up: one run for ten missed minutes"
    assert [(slug, rid) for slug, rid, _ in _started_lines(w)] == [("proc_scheduled", str(run_id))]


async def test_each_started_run_is_logged_with_its_schedule_run_and_time(
    db_dsn: str, conn: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    for statement in sched_flow.compile():
        conn.execute(statement.encode())
    PgflowSqlClient(conn).create_schedule("proc_hourly", "proc_sched", "@hourly", start_after=T0)
    worker = Worker(sched_flow, db_dsn, **TICKING, schedule_clock=lambda: T0 + timedelta(hours=1, minutes=5))
    caplog.set_level(logging.INFO, logger="pgflow.worker.scheduler")

    def started() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "pgflow.worker.scheduler" and hasattr(r, "schedule_slug")]

    async with running(worker):
        await await_until("the scheduled run's log record", started)
    [record] = started()
    run_id = one(conn, "select run_id from pgflow.schedule_runs where schedule_slug = 'proc_hourly'")
    assert (record.schedule_slug, record.run_id, record.scheduled_for) == (  # type: ignore[attr-defined]
        "proc_hourly", str(run_id), "2030-01-01T01:00:00+00:00")
