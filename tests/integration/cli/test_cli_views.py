"""The terminal views: `pgflow status` drawing the run's DAG, `status --watch` redrawing on the
run's events until it ends, `pgflow inspect` listing failed tasks; and `pgflow ui` serving the
dashboard as a real process (or naming the extra to install)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from pgflow.worker import options as worker_defaults
from tests.support.cli import run_cli as pgflow
from tests.support.cli import start_cli
from tests.support.paths import CLIENT, ROOT
from tests.support.sql import complete_task, define_flow, fail_task, insert_worker, read_and_start, start_flow
from tests.support.waiting import wait_until

DIAMOND = [
    {"slug": "fetch"},
    {"slug": "summarize", "deps": ["fetch"]},
    {"slug": "translate", "deps": ["fetch"], "step_type": "map"},
    {"slug": "publish", "deps": ["summarize", "translate"]},
]


def _diamond(conn: psycopg.Connection[Any], slug: str) -> uuid.UUID:
    define_flow(conn, slug, DIAMOND, max_attempts=1, base_delay=0)
    return uuid.UUID(str(start_flow(conn, slug, {"text": "hi"})["run_id"]))


def _work(conn: psycopg.Connection[Any], slug: str, worker: uuid.UUID, outputs: dict[str, Any]) -> list[str]:
    """Complete every visible task of the flow once; returns the steps handled."""
    done = []
    for t in read_and_start(conn, slug, worker):
        complete_task(conn, t["run_id"], t["step_slug"], t["task_index"], outputs.get(t["step_slug"], "ok"))
        done.append(t["step_slug"])
    return done


def _dag_lines(stdout: str) -> list[str]:
    """The drawing: the lines between the run summary's blank line and the table's header."""
    lines = stdout.splitlines()
    start = lines.index("") + 1
    return lines[start:lines.index("", start)]


def test_status_draws_the_dag_with_states_and_map_progress(conn: psycopg.Connection[Any], db_dsn: str) -> None:
    run_id = _diamond(conn, "views_dag")
    worker = insert_worker(conn, "views_dag")
    _work(conn, "views_dag", worker, {"fetch": ["a", "b", "c"]})  # fetch done: the map gets 3 tasks
    tasks = read_and_start(conn, "views_dag", worker)
    one = next(t for t in tasks if t["step_slug"] == "translate")
    complete_task(conn, run_id, "translate", one["task_index"], "uno")

    out = pgflow("status", str(run_id), "--dsn", db_dsn, env={"PYTHONIOENCODING": "utf-8"})
    assert out.returncode == 0, out.stderr
    dag = _dag_lines(out.stdout)
    expected = [
        r"fetch\s+completed",
        r"├─▶ summarize\s+started",
        r"│   └─▶ publish\s+created\s+needs: summarize, translate",
        r"└─▶ translate\s+started map 1/3",
    ]
    assert len(dag) == len(expected), dag
    for line, pattern in zip(dag, expected, strict=True):
        assert re.fullmatch("  " + pattern, line), (line, pattern)
    # the table of steps is still there, in definition order
    assert re.search(r"^translate\s+started\s+1/3\s", out.stdout, re.M)
    assert out.stdout.index("\nSTEP ") > out.stdout.index("publish")

    # a terminal that cannot draw box characters gets ASCII
    plain = pgflow("status", str(run_id), "--dsn", db_dsn, env={"PYTHONIOENCODING": "ascii"})
    assert plain.returncode == 0, plain.stderr
    assert [line.split()[0:2] for line in _dag_lines(plain.stdout)][1:] == [
        ["|->", "summarize"], ["|", "`->"], ["`->", "translate"],
    ]


def test_status_watch_redraws_on_events_until_the_run_completes(conn: psycopg.Connection[Any], db_dsn: str) -> None:
    run_id = _diamond(conn, "views_watch")
    worker = insert_worker(conn, "views_watch")
    # a long interval: the redraws come from the run's NOTIFY events
    proc = start_cli("status", str(run_id), "--watch", "--interval", "300", "--dsn", db_dsn)
    try:
        assert proc.stdout is not None
        first = []
        while not first or not first[-1].startswith("publish "):  # the first frame's last table row
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            first.append(line.rstrip("\n"))
        assert "status   started (4 step(s) to go)" in first
        for _ in range(3):  # fetch; summarize + the map's 2 tasks; publish
            assert _work(conn, "views_watch", worker, {"fetch": ["a", "b"]})
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    frames = out.split("\nrun      ")
    assert len(frames) >= 2, out
    last = frames[-1]
    assert "status   completed" in last
    assert re.search(r"└─▶ translate\s+completed map 2/2", last)


def test_status_watch_of_a_failed_run_shows_it_once_and_exits_1(conn: psycopg.Connection[Any], db_dsn: str) -> None:
    run_id = _diamond(conn, "views_watch_failed")
    worker = insert_worker(conn, "views_watch_failed")
    assert len(read_and_start(conn, "views_watch_failed", worker)) == 1
    fail_task(conn, run_id, "fetch", 0, "no network")
    out = pgflow("status", str(run_id), "--watch", "--dsn", db_dsn)
    assert out.returncode == 1, out.stderr
    assert out.stdout.count("run      ") == 1 and "status   failed" in out.stdout
    both = pgflow("status", str(run_id), "--watch", "--json", "--dsn", db_dsn)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_inspect_lists_failed_and_retried_tasks_with_errors_attempts_and_timings(
    conn: psycopg.Connection[Any], db_dsn: str
) -> None:
    define_flow(conn, "views_inspect", [{"slug": "items", "step_type": "map"}, {"slug": "sum", "deps": ["items"]}],
                max_attempts=2, base_delay=0)
    run_id = uuid.UUID(str(start_flow(conn, "views_inspect", [1, 2, 3])["run_id"]))
    worker = insert_worker(conn, "views_inspect")
    assert len(read_and_start(conn, "views_inspect", worker)) == 3
    complete_task(conn, run_id, "items", 0, 1)
    fail_task(conn, run_id, "items", 1, "TimeoutError: first try")
    fail_task(conn, run_id, "items", 2, "flaky <b>")
    assert conn.execute("select pgmq.set_vt('views_inspect', msg_id, 0) from pgmq.q_views_inspect").fetchall()
    assert len(read_and_start(conn, "views_inspect", worker)) == 2
    fail_task(conn, run_id, "items", 1, "ValueError: boom\n  at line 2")  # attempt 2 of 2: the run fails

    out = pgflow("inspect", str(run_id), "--dsn", db_dsn)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "status   failed (took " in text
    assert "1 task(s) failed:" in text
    failed_block = text.split("1 task(s) failed:")[1]
    assert re.search(r"items\[1\]  failed, attempt 2 of 2\n", failed_block)
    assert re.search(r"failed   \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(ran \d", failed_block)
    assert f"worker   {worker}" in failed_block
    assert "error    ValueError: boom\n               at line 2" in failed_block  # whole message, indented
    assert "task(s) failed an attempt, then retried:" in text and "items[2]  started, attempt 2 of 2" in text
    assert "flaky <b>" in text

    doc = json.loads(pgflow("inspect", str(run_id), "--json", "--dsn", db_dsn).stdout)
    assert doc["run"]["status"] == "failed" and doc["run"]["run_id"] == str(run_id)
    [failed] = doc["failed_tasks"]
    assert (failed["step_slug"], failed["task_index"], failed["attempts_count"], failed["max_attempts"]) == (
        "items", 1, 2, 2)
    assert failed["error_message"] == "ValueError: boom\n  at line 2"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", failed["failed_at"])
    assert failed["last_worker_id"] == str(worker)
    assert [(t["task_index"], t["error_message"]) for t in doc["retried_tasks"]] == [(2, "flaky <b>")]
    assert [s["step_slug"] for s in doc["failed_steps"]] == ["items"]
    assert doc["truncated"] is False

    limited = json.loads(pgflow("inspect", str(run_id), "--json", "--limit", "1", "--dsn", db_dsn).stdout)
    assert len(limited["failed_tasks"]) == 1 and limited["retried_tasks"] == [] and limited["truncated"] is True


def test_inspect_of_a_run_without_failures_and_of_an_unknown_run(conn: psycopg.Connection[Any], db_dsn: str) -> None:
    run_id = _diamond(conn, "views_clean")
    out = pgflow("inspect", str(run_id), "--dsn", db_dsn)
    assert out.returncode == 0 and "no failed tasks" in out.stdout
    missing = uuid.uuid4()
    out = pgflow("inspect", str(missing), "--dsn", db_dsn)
    assert out.returncode == 1 and f"no run {missing}" in out.stderr


def test_worker_help_quotes_the_workers_own_defaults() -> None:
    out = pgflow("worker", "--help").stdout
    text = " ".join(out.split())
    for option, value in (
        ("--concurrency", worker_defaults.DEFAULT_CONCURRENCY),
        ("--batch-size", worker_defaults.DEFAULT_BATCH_SIZE),
        ("--visibility-timeout", worker_defaults.DEFAULT_VISIBILITY_TIMEOUT),
        ("--max-poll-seconds", f"{worker_defaults.DEFAULT_MAX_POLL_SECONDS:g}"),
        ("--poll-interval-ms", worker_defaults.DEFAULT_POLL_INTERVAL_MS),
        ("--shutdown-grace", f"{worker_defaults.DEFAULT_SHUTDOWN_GRACE:g}"),
        ("--maintenance-interval", f"{worker_defaults.DEFAULT_MAINTENANCE_INTERVAL:g}"),
        ("--compile", worker_defaults.DEFAULT_COMPILE),
    ):
        help_text = text.split(f" {option} ", 1)[1].split(" --", 1)[0]
        assert f"(default {value})" in help_text, (option, help_text)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_pgflow_ui_serves_the_dashboard_until_sigterm(conn: psycopg.Connection[Any], db_dsn: str) -> None:
    run_id = _diamond(conn, "views_ui")
    port = _free_port()
    proc = start_cli("ui", "--dsn", db_dsn, "--port", str(port), "--read-only")
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert proc.poll() is None, proc.communicate()
            try:
                return httpx.get(url + "/healthz", timeout=2).text == "ok"
            except httpx.HTTPError:
                return False

        wait_until("pgflow ui to answer", up, timeout=30)
        page = httpx.get(url + "/runs", timeout=10)
        assert page.status_code == 200 and str(run_id) in page.text
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert f"http://127.0.0.1:{port}" in err  # where it listens, logged at INFO by the command


def test_pgflow_ui_without_the_extra_names_what_to_install(tmp_path: Path, db_dsn: str) -> None:
    # a Python where starlette cannot be imported, as after `pip install pgflow-py` without [ui]
    (tmp_path / "starlette").mkdir()
    (tmp_path / "starlette" / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), str(CLIENT)])}
    out = pgflow("ui", "--dsn", db_dsn, "--read-only", env=env)
    assert out.returncode == 1
    assert out.stderr.strip() == "pgflow: error: the dashboard needs starlette: pip install 'pgflow-py[ui]'"
    assert "ui" in pgflow("--help", env=env).stdout  # the other commands are unaffected
