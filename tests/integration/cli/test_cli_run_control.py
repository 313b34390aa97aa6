"""`pgflow cancel|retry|resume`, `pgflow start --idempotency-key`, `pgflow prune` and the retry
link in `pgflow status`, run as a user runs them (subprocesses), the worker played by hand."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.cli import run_cli as pgflow
from tests.support.sql import complete_task, fail_task, insert_worker, one, read_and_start

FLOWS_PY = textwrap.dedent('''
    from pgflow.dsl import Flow

    flow = Flow("cli_rc", max_attempts=1)

    @flow.step("first")
    def first(run):
        return run

    @flow.step("second", depends_on=["first"])
    def second(deps):
        return deps
''')


@pytest.fixture
def rc_db(db_dsn: str, conn: psycopg.Connection[Any], tmp_path: Path) -> Iterator[str]:
    (tmp_path / "rc_flows.py").write_text(FLOWS_PY, encoding="utf-8")
    out = pgflow("compile", "rc_flows:flow", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for stmt in out.stdout.splitlines():
        conn.execute(stmt.encode())
    yield db_dsn


def _drive(dsn: str, fail: str | None = None) -> None:
    """Play the worker: run every visible task of cli_rc once (``fail``: that step fails)."""
    with psycopg.connect(dsn, autocommit=True) as c:
        worker_id = insert_worker(c, "cli_rc", function_name="cli-test")
        for _ in range(10):
            tasks = read_and_start(c, "cli_rc", worker_id, qty=10)
            if not tasks:
                return
            for t in tasks:
                if t["step_slug"] == fail:
                    fail_task(c, t["run_id"], t["step_slug"], t["task_index"], "boom")
                else:
                    complete_task(c, t["run_id"], t["step_slug"], t["task_index"], f"{t['step_slug']} done")


def _start(dsn: str, *extra: str, input: str = '{"n": 1}') -> uuid.UUID:
    out = pgflow("start", "cli_rc", "--input", input, *extra, "--dsn", dsn)
    assert out.returncode == 0, out.stderr
    return uuid.UUID(out.stdout.strip())


def test_cancel_prints_the_cancelled_run_as_text_or_json(rc_db: str) -> None:
    run_id = _start(rc_db)
    out = pgflow("cancel", str(run_id), "--dsn", rc_db)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"run      {run_id}" and lines[2] == "status   cancelled"
    assert lines[4].startswith("cancelled ")
    again = pgflow("cancel", str(run_id), "--dsn", rc_db, "--json")
    doc = json.loads(again.stdout)
    assert doc["run_id"] == str(run_id) and doc["status"] == "cancelled" and doc["cancelled_at"]
    status = pgflow("status", str(run_id), "--dsn", rc_db)
    assert "status   cancelled" in status.stdout and "(took " in status.stdout
    assert "cancelled" in pgflow("runs", "--status", "cancelled", "--dsn", rc_db).stdout
    missing = uuid.uuid4()
    out = pgflow("cancel", str(missing), "--dsn", rc_db)
    assert out.returncode == 1 and f"Run {missing} not found" in out.stderr and "Traceback" not in out.stderr


def test_retry_starts_a_linked_run_and_status_shows_the_link_both_ways(rc_db: str) -> None:
    run_id = _start(rc_db)
    refused = pgflow("retry", str(run_id), "--dsn", rc_db)
    assert refused.returncode == 1 and "only a failed or cancelled run can be retried" in refused.stderr
    _drive(rc_db, fail="first")
    out = pgflow("retry", str(run_id), "--dsn", rc_db, "--json")
    assert out.returncode == 0, out.stderr
    new = json.loads(out.stdout)
    assert new["status"] == "started" and new["retry_of_run_id"] == str(run_id) and new["run_id"] != str(run_id)
    old_status = pgflow("status", str(run_id), "--dsn", rc_db).stdout
    assert f"retried as   {new['run_id']}" in old_status
    new_status = pgflow("status", new["run_id"], "--dsn", rc_db).stdout
    assert f"retried from {run_id}" in new_status
    text = pgflow("retry", str(run_id), "--dsn", rc_db)  # repeated: the same retry, printed as text
    assert text.stdout.splitlines()[0] == f"run      {new['run_id']}" and f"retried from {run_id}" in text.stdout


def test_resume_continues_a_failed_run_to_completion(rc_db: str, conn: psycopg.Connection[Any]) -> None:
    run_id = _start(rc_db)
    _drive(rc_db, fail="second")
    assert one(conn, "select status from pgflow.runs where run_id = %s", run_id) == "failed"
    out = pgflow("resume", str(run_id), "--dsn", rc_db)
    assert out.returncode == 0, out.stderr
    assert "status   started (1 step(s) to go)" in out.stdout
    _drive(rc_db)
    status = pgflow("status", str(run_id), "--dsn", rc_db, "--output")
    assert "status   completed" in status.stdout and '"second": "second done"' in status.stdout


def test_start_with_an_idempotency_key_starts_once(rc_db: str, conn: psycopg.Connection[Any]) -> None:
    first = _start(rc_db, "--idempotency-key", "order-42")
    assert _start(rc_db, "--idempotency-key", "order-42") == first
    assert one(conn, "select count(*) from pgflow.runs where flow_slug = 'cli_rc'") == 1
    other = pgflow("start", "cli_rc", "--input", '{"n": 2}', "--idempotency-key", "order-42", "--dsn", rc_db)
    assert other.returncode == 1 and "was used with a different input" in other.stderr
    both = pgflow("start", "cli_rc", "--run-id", str(uuid.uuid4()), "--idempotency-key", "k", "--dsn", rc_db)
    assert both.returncode == 1 and "--run-id and --idempotency-key exclude each other" in both.stderr


def test_prune_deletes_old_finished_runs_in_batches_and_prints_the_count(
    rc_db: str, conn: psycopg.Connection[Any]
) -> None:
    old = [_start(rc_db, input=json.dumps({"n": i})) for i in range(3)]
    for run_id in old:
        assert pgflow("cancel", str(run_id), "--dsn", rc_db).returncode == 0
    live = _start(rc_db)
    conn.execute(
        "update pgflow.runs set started_at = started_at - interval '3 days', "
        "cancelled_at = cancelled_at - interval '3 days' where run_id = any(%s)",
        (old,),
    )
    out = pgflow("prune", "--older-than", "2d", "--max-runs", "2", "--dsn", rc_db)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"
    assert "2 run(s) deleted so far" in out.stderr and "3 run(s) deleted so far" in out.stderr
    assert "done, 3 finished run(s) older than 2d deleted" in out.stderr
    assert one(conn, "select count(*) from pgflow.runs") == 1
    assert one(conn, "select status from pgflow.runs where run_id = %s", live) == "started"
    nothing = pgflow("prune", "--older-than", "2d", "--dsn", rc_db)
    assert nothing.returncode == 0 and nothing.stdout.strip() == "0"


@pytest.mark.parametrize("value", ["7 days", "-1d", "d", "7y"])
def test_prune_and_worker_refuse_a_bad_duration(value: str) -> None:
    out = pgflow("prune", f"--older-than={value}", "--dsn", "postgresql://unused")
    assert out.returncode == 2, out.stderr
    assert "argument --older-than: a duration must be a number with a unit s, m, h, d or w" in out.stderr
    out = pgflow("worker", "x:y", f"--retention={value}", "--dsn", "postgresql://unused")
    assert out.returncode == 2 and "argument --retention: a duration must be" in out.stderr, out.stderr


def test_worker_retention_needs_maintenance_sweeps(tmp_path: Path) -> None:
    (tmp_path / "rc_flows.py").write_text(FLOWS_PY, encoding="utf-8")
    out = pgflow("worker", "rc_flows:flow", "--retention", "7d", "--maintenance-interval", "0",
                 "--dsn", "postgresql://unused", cwd=tmp_path)
    assert out.returncode == 1 and "retention needs maintenance sweeps" in out.stderr, out.stderr
