"""Workers as separate processes (tests/integration/worker_runner.py): SIGTERM drains the task
in flight and takes no new one; two processes share 1,000 runs with every task done once."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """A worker_runner subprocess whose stdout lines can be awaited with a deadline."""

    def __init__(self, dsn: str, flow: str, *, env: dict[str, str] | None = None, **options: Any) -> None:
        self.worker_id = uuid.uuid4()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.worker_runner",
                "--dsn",
                dsn,
                "--flow",
                f"tests.integration.worker_flows:{flow}",
                "--worker-id",
                str(self.worker_id),
                "--options",
                json.dumps(options),
            ],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream: Any, sink: Callable[[str], None]) -> None:
        for line in stream:
            sink(line.rstrip("\n"))

    def expect(self, line: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {line!r} from the worker; stderr:\n" + "\n".join(self.stderr[-40:]))
            try:
                if self.lines.get(timeout=remaining) == line:
                    return
            except queue.Empty:
                continue

    def terminate_and_wait(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def spawn() -> Iterator[Callable[..., WorkerProcess]]:
    procs: list[WorkerProcess] = []

    def make(*args: Any, **kwargs: Any) -> WorkerProcess:
        p = WorkerProcess(*args, **kwargs)
        procs.append(p)
        return p

    yield make
    for p in procs:
        p.kill()


def one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query.encode(), params).fetchone()
    return None if row is None else row[0]


def test_sigterm_drains_the_task_in_flight_and_takes_no_new_one(
    db_dsn: str, conn: psycopg.Connection[Any], spawn: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    w = spawn(db_dsn, "drain_flow", env={"PGFLOW_TEST_GATE": str(gate)}, heartbeat_interval=0.5)
    w.expect("READY")
    run1 = one(conn, "select run_id from pgflow.start_flow('proc_drain', '{\"n\": 1}')")
    wait_until(
        "the task to start",
        lambda: one(conn, "select status = 'started' from pgflow.step_tasks where run_id = %s", run1),
        timeout=60,
    )

    w.proc.send_signal(signal.SIGTERM)
    w.expect("STOPPING")
    run2 = one(conn, "select run_id from pgflow.start_flow('proc_drain', '{\"n\": 2}')")
    assert w.proc.poll() is None, "the worker must wait for its task in flight"
    assert one(conn, "select stopped_at from pgflow.workers where worker_id = %s", w.worker_id) is None

    gate.touch()
    assert w.proc.wait(60) == 0, "\n".join(w.stderr[-40:])
    assert one(conn, "select status from pgflow.runs where run_id = %s", run1) == "completed"
    assert one(conn, "select output from pgflow.runs where run_id = %s", run1) == {
        "slow": {"done": True, "input": {"n": 1}}
    }
    # The run started after SIGTERM was left alone: still queued, never attempted.
    assert one(conn, "select status || ':' || attempts_count from pgflow.step_tasks where run_id = %s", run2) == (
        "queued:0"
    )
    assert one(conn, "select stopped_at is not null from pgflow.workers where worker_id = %s", w.worker_id)


def test_two_worker_processes_complete_1000_runs_exactly_once(
    db_dsn: str, conn: psycopg.Connection[Any], spawn: Callable[..., WorkerProcess]
) -> None:
    workers = [spawn(db_dsn, "bulk_flow") for _ in range(2)]
    for w in workers:
        w.expect("READY")

    runs = 1000
    t0 = time.monotonic()
    conn.execute(
        "select count(*) from generate_series(1, %s) as g, "
        "lateral pgflow.start_flow('proc_bulk', jsonb_build_object('i', g)) as r",
        (runs,),
    )
    wait_until(
        "all runs to complete",
        lambda: one(conn, "select count(*) from pgflow.runs where status = 'completed'") == runs,
        timeout=180,
    )
    elapsed = time.monotonic() - t0
    for w in workers:
        assert w.terminate_and_wait() == 0, "\n".join(w.stderr[-40:])

    stats = conn.execute(
        """
        select count(*), count(*) filter (where status = 'completed' and attempts_count = 1),
               count(distinct last_worker_id), max(attempts_count)
        from pgflow.step_tasks
        """
    ).fetchone()
    assert stats == (2 * runs, 2 * runs, 2, 1)
    wrong = one(
        conn, "select count(*) from pgflow.runs where output <> jsonb_build_object('b', (input->>'i')::int * 2)"
    )
    assert wrong == 0
    assert one(conn, "select count(*) from pgmq.q_proc_bulk") == 0
    assert one(conn, "select count(*) from pgmq.a_proc_bulk") == 2 * runs
    per_worker = conn.execute("select count(*) from pgflow.step_tasks group by last_worker_id order by 1").fetchall()
    print(
        f"\n2 worker processes: {runs} runs / {2 * runs} tasks in {elapsed:.2f} s "
        f"({2 * runs / elapsed:.0f} tasks/s); tasks per worker {[r[0] for r in per_worker]}"
    )
