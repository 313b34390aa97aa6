"""`pgflow schedule`: next, create, list (table and JSON), pause, resume, delete, the errors a user
gets, and a schedule made with the CLI that `pgflow worker` ticks and runs to completion."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from pgflow.dsl import Flow
from tests.support.cli import run_cli
from tests.support.process_flows import sched_flow
from tests.support.processes import WorkerProcess, spawn_cli_worker
from tests.support.sql import one
from tests.support.waiting import wait_until


def _schedule(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("schedule", *args)


def _flow(conn: psycopg.Connection[Any]) -> None:
    flow = Flow("cs_flow")

    @flow.step("only")
    def only(inp: Any) -> Any:
        return inp

    for statement in flow.compile():
        conn.execute(statement.encode())


def test_next_prints_the_coming_times_in_utc_and_in_the_zone(db_dsn: str) -> None:
    out = _schedule("next", "30 2 * * *", "--timezone", "Europe/Paris", "-n", "3",
                    "--after", "2030-03-29T00:00:00Z", "--dsn", db_dsn)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "2030-03-29T01:30:00Z  2030-03-29 02:30 CET (Europe/Paris)",
        "2030-03-30T01:30:00Z  2030-03-30 02:30 CET (Europe/Paris)",
        "2030-03-31T01:00:00Z  2030-03-31 03:00 CEST (Europe/Paris)",  # spring forward: at the change
    ]
    as_json = _schedule("next", "@daily", "--after", "2030-01-01T00:00:00+00:00", "-n", "2", "--json", "--dsn", db_dsn)
    assert json.loads(as_json.stdout) == ["2030-01-02T00:00:00Z", "2030-01-03T00:00:00Z"]


def test_next_names_the_bad_field_and_refuses_a_time_without_a_zone(db_dsn: str) -> None:
    out = _schedule("next", "0 24 * * *", "--dsn", db_dsn)
    assert out.returncode == 1
    assert 'invalid cron expression "0 24 * * *": hour field "24": 24 is out of range 0-23' in out.stderr
    naive = _schedule("next", "@daily", "--after", "2030-01-01T00:00:00", "--dsn", db_dsn)
    assert naive.returncode == 2 and "give a zone with the time" in naive.stderr
    zone = _schedule("next", "@daily", "--timezone", "Mars/Olympus", "--dsn", db_dsn)
    assert zone.returncode == 1 and 'unknown time zone "Mars/Olympus"' in zone.stderr


def test_create_list_pause_resume_delete(db_dsn: str, conn: psycopg.Connection[Any]) -> None:
    _flow(conn)
    made = _schedule("create", "cs_nightly", "cs_flow", "30 2 * * *", "--timezone", "Europe/Paris",
                     "--input", '{"topic": "pg"}', "--overlap", "skip", "--catchup", "all",
                     "--catchup-window", "6 hours", "--start-after", "2030-01-01T00:00:00Z", "--dsn", db_dsn)
    assert made.returncode == 0, made.stderr
    assert made.stderr.strip() == ("schedule cs_nightly created: flow cs_flow, '30 2 * * *' in Europe/Paris, "
                                   "next 2030-01-01T01:30:00Z")

    table = _schedule("list", "--dsn", db_dsn)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["SCHEDULE", "FLOW", "CRON", "TIMEZONE", "STATE", "NEXT", "(UTC)", "LAST", "(UTC)",
                              "LAST", "RUN"]
    assert row.split() == ["cs_nightly", "cs_flow", "30", "2", "*", "*", "*", "Europe/Paris", "enabled",
                           "2030-01-01T01:30:00Z", "-", "-"]

    listed = json.loads(_schedule("list", "--json", "--dsn", db_dsn).stdout)
    assert len(listed) == 1
    doc = listed[0]
    assert {k: doc[k] for k in ("schedule_slug", "flow_slug", "cron", "timezone", "input", "enabled",
                                "overlap_policy", "catchup_policy", "catchup_window_seconds",
                                "next_scheduled_start_time", "last_run_id", "last_scheduled_for")} == {
        "schedule_slug": "cs_nightly", "flow_slug": "cs_flow", "cron": "30 2 * * *", "timezone": "Europe/Paris",
        "input": {"topic": "pg"}, "enabled": True, "overlap_policy": "skip", "catchup_policy": "all",
        "catchup_window_seconds": 21600.0, "next_scheduled_start_time": "2030-01-01T01:30:00Z",
        "last_run_id": None, "last_scheduled_for": None,
    }
    assert doc["created_at"].endswith("Z")

    paused = _schedule("pause", "cs_nightly", "--dsn", db_dsn)
    assert paused.returncode == 0 and paused.stderr.strip().endswith("paused")
    assert "paused" in _schedule("list", "--dsn", db_dsn).stdout
    resumed = _schedule("resume", "cs_nightly", "--dsn", db_dsn)
    assert resumed.returncode == 0 and "resumed" in resumed.stderr and ", next 20" in resumed.stderr
    deleted = _schedule("delete", "cs_nightly", "--dsn", db_dsn)
    assert deleted.returncode == 0 and "schedule cs_nightly deleted" in deleted.stderr
    empty = _schedule("list", "--dsn", db_dsn)
    assert empty.stdout == "" and "no schedules" in empty.stderr
    assert json.loads(_schedule("list", "--json", "--dsn", db_dsn).stdout) == []


def test_errors_say_what_was_wrong(db_dsn: str, conn: psycopg.Connection[Any]) -> None:
    _flow(conn)
    missing = _schedule("pause", "cs_nope", "--dsn", db_dsn)
    assert missing.returncode == 1 and 'schedule "cs_nope" does not exist' in missing.stderr
    no_flow = _schedule("create", "cs_x", "nope", "@daily", "--dsn", db_dsn)
    assert no_flow.returncode == 1 and 'flow "nope" does not exist' in no_flow.stderr
    bad_cron = _schedule("create", "cs_x", "cs_flow", "0 0 * * funday", "--dsn", db_dsn)
    assert bad_cron.returncode == 1 and 'day-of-week field "funday"' in bad_cron.stderr
    not_object = _schedule("create", "cs_x", "cs_flow", "@daily", "--input", "[1]", "--dsn", db_dsn)
    assert not_object.returncode == 1 and "--input must be a JSON object" in not_object.stderr
    bad_window = _schedule("create", "cs_x", "cs_flow", "@daily", "--catchup-window", "soon", "--dsn", db_dsn)
    assert bad_window.returncode == 1 and "interval" in bad_window.stderr
    assert one(conn, "select count(*) from pgflow.schedules") == 0
    no_action = _schedule()
    assert no_action.returncode == 2 and "ACTION" in no_action.stderr


def test_a_schedule_made_with_the_cli_is_ticked_by_pgflow_worker_to_a_completed_run(
    db_dsn: str, conn: psycopg.Connection[Any], procs: list[WorkerProcess], tmp_path: Path
) -> None:
    for statement in sched_flow.compile():
        conn.execute(statement.encode())
    # five minutes missed already (the first time after --start-after is in the past): the
    # worker's first tick, at the real clock, starts the latest of them
    after = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    made = _schedule("create", "cs_every_minute", "proc_sched", "* * * * *", "--start-after", after, "--dsn", db_dsn)
    assert made.returncode == 0, made.stderr
    w = spawn_cli_worker(db_dsn, "tests.support.process_flows:sched_flow", tmp_path, name="cli_sched",
                         args=["--schedule-tick-interval", "0.1", "--maintenance-interval", "0"])
    procs.append(w)
    output = wait_until("the scheduled run to complete", lambda: one(
        conn, "select output from pgflow.runs where flow_slug = 'proc_sched' and status = 'completed'"), timeout=60)
    scheduled_for = one(conn, "select to_char(scheduled_for at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                              "from pgflow.schedule_runs where schedule_slug = 'cs_every_minute'")
    assert output == {"stamp": scheduled_for}
    assert "schedule cs_every_minute started run" in w.log_text()
    listed = json.loads(_schedule("list", "--json", "--dsn", db_dsn).stdout)
    assert listed[0]["last_scheduled_for"] == scheduled_for
