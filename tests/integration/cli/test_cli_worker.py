"""`pgflow worker` as a subprocess: serves runs, drains on SIGTERM/SIGINT, refuses a changed flow."""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.cli import run_cli, start_cli

FLOWS_PY = textwrap.dedent('''
    import threading
    from pgflow.dsl import Flow

    greet = Flow("w_greet", max_attempts=1)

    @greet.step("full_name")
    def full_name(run):
        return f"{run['first']} {run['last']}"

    @greet.step("greeting", depends_on=["full_name"])
    async def greeting(deps, ctx):
        return f"Hello, {deps['full_name']}!"

    changed = Flow("w_greet")

    @changed.step("full_name")
    def full_name2(run):
        return run

    # A step that blocks until its test releases it: lets a test stop the worker mid-task.
    slow = Flow("w_slow")

    @slow.step("wait")
    def wait(run, ctx):
        import psycopg
        with psycopg.connect(run["dsn"], autocommit=True) as c:
            c.execute("listen w_release")
            c.execute("select pg_notify('w_started', '')")
            for _ in c.notifies(timeout=60, stop_after=1):
                pass
        return "released"
''')


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd)


def _worker(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return start_cli("worker", *args, cwd=cwd)


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    (tmp_path / "w_flows.py").write_text(FLOWS_PY, encoding="utf-8")
    return tmp_path


def _compile(dsn: str, conn: psycopg.Connection[Any], cwd: Path, spec: str) -> None:
    out = _cli("compile", spec, cwd=cwd)
    assert out.returncode == 0, out.stderr
    for stmt in out.stdout.splitlines():
        conn.execute(stmt.encode())


def test_worker_serves_runs_and_stops_cleanly_on_sigterm(db_dsn: str, conn: psycopg.Connection[Any],
                                                         flows_dir: Path) -> None:
    _compile(db_dsn, conn, flows_dir, "w_flows:greet")  # so `start` cannot race the worker's own compile
    proc = _worker(flows_dir, "w_flows:greet", "--dsn", db_dsn, "--concurrency", "4")
    try:
        out = _cli("start", "w_greet", "--input", '{"first": "Ada", "last": "Lovelace"}', "--wait",
                   "--timeout", "60", "--dsn", db_dsn, cwd=flows_dir)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout.split("output: ", 1)[1]) == {"greeting": "Hello, Ada Lovelace!"}
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "serving w_greet" in err and "SIGTERM: finishing in-flight tasks" in err and "stopped" in err
    assert "Traceback" not in err
    row = conn.execute("select stopped_at is not null from pgflow.workers where queue_name = 'w_greet'").fetchone()
    assert row == (True,)


def test_sigint_drains_the_task_in_flight(db_dsn: str, conn: psycopg.Connection[Any], flows_dir: Path) -> None:
    _compile(db_dsn, conn, flows_dir, "w_flows:slow")
    conn.execute("listen w_started")
    proc = _worker(flows_dir, "w_flows:slow", "--dsn", db_dsn)
    try:
        run_id = _cli("start", "w_slow", "--input", json.dumps({"dsn": db_dsn}), "--dsn", db_dsn,
                      cwd=flows_dir).stdout.strip()
        uuid.UUID(run_id)
        assert list(conn.notifies(timeout=60, stop_after=1)), "the handler never started"
        proc.send_signal(signal.SIGINT)  # the handler is running: the worker must wait for it
        conn.execute("select pg_notify('w_release', '')")
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "SIGINT: finishing in-flight tasks" in err
    row = conn.execute("select status, output from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert row == ("completed", {"wait": "released"})


def test_worker_refuses_a_flow_whose_definition_changed(db_dsn: str, conn: psycopg.Connection[Any],
                                                        flows_dir: Path) -> None:
    _compile(db_dsn, conn, flows_dir, "w_flows:greet")
    out = _cli("worker", "w_flows:changed", "--dsn", db_dsn, cwd=flows_dir)
    assert out.returncode == 1
    assert "differs from its definition" in out.stderr and "Step count differs: 1 vs 2" in out.stderr
    assert "Traceback" not in out.stderr


def test_worker_rejects_the_same_flow_twice(flows_dir: Path) -> None:
    out = _cli("worker", "w_flows:greet", "w_flows:changed", "--dsn", "postgresql://x@127.0.0.1:1/x", cwd=flows_dir)
    assert out.returncode == 1 and "flow 'w_greet' given more than once" in out.stderr


def test_worker_on_an_unmigrated_database(empty_db_dsn: str, flows_dir: Path) -> None:
    out = _cli("worker", "w_flows:greet", "--dsn", empty_db_dsn, cwd=flows_dir)
    assert out.returncode == 1 and "pgflow migrate" in out.stderr and "Traceback" not in out.stderr


def test_a_second_signal_aborts_without_waiting(db_dsn: str, conn: psycopg.Connection[Any], flows_dir: Path) -> None:
    _compile(db_dsn, conn, flows_dir, "w_flows:slow")
    conn.execute("listen w_started")
    proc = _worker(flows_dir, "w_flows:slow", "--dsn", db_dsn, "--shutdown-grace", "60")
    try:
        run_id = _cli("start", "w_slow", "--input", json.dumps({"dsn": db_dsn}), "--dsn", db_dsn,
                      cwd=flows_dir).stdout.strip()
        assert list(conn.notifies(timeout=60, stop_after=1)), "the handler never started"
        proc.send_signal(signal.SIGTERM)
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # wait until the worker acknowledged the first signal
            seen.append(line)
            if "SIGTERM: finishing in-flight tasks" in line:
                break
        proc.send_signal(signal.SIGTERM)  # the handler is still blocked: abort
        _, err = proc.communicate(timeout=60)
    finally:
        conn.execute("select pg_notify('w_release', '')")
        proc.kill()
    assert proc.returncode == 130, "".join(seen) + err
    assert "SIGTERM again: aborting without waiting for in-flight tasks" in err
    row = conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert row == ("started",)  # the abandoned task is left for requeue_stalled_tasks
