"""Shared helpers for the reliability suite: driving the SQL API the way a worker does, reading
queue tables directly, checking the end-of-run invariants, spawning worker processes, and the
fault/recovery counters that the session summary prints (docs/RELIABILITY.md quotes them).

Nothing here sleeps for correctness: `wait_until` polls a condition against a deadline and
fails with the condition's last value when the deadline passes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["wait_until"]  # re-exported: the reliability tests import it from here

# area -> metric -> count; printed by tests/reliability/conftest.py at the end of the session.
COUNTS: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))


def count(area: str, **metrics: int) -> None:
    for k, v in metrics.items():
        COUNTS[area][k] += int(v)




# ------------------------------------------------------------------------------------------
# SQL API, driven like a worker
# ------------------------------------------------------------------------------------------


def define_flow(
    conn: psycopg.Connection, slug: str, steps: Sequence[dict[str, Any]], **flow_opts: Any
) -> None:
    """create_flow + add_step through named SQL arguments. Each step is a dict of add_step
    arguments: {"slug": ..., "deps": [...], "step_type": "map", "max_attempts": 1, ...}."""
    conn.execute(
        "select pgflow.create_flow(flow_slug => %(f)s, max_attempts => %(a)s, base_delay => %(b)s, timeout => %(t)s)",
        {"f": slug, "a": flow_opts.get("max_attempts"), "b": flow_opts.get("base_delay"),
         "t": flow_opts.get("timeout")},
    )
    for s in steps:
        args = {k: v for k, v in s.items() if k not in ("slug", "deps")}
        names = ", ".join(f"{k} => %({k})s" for k in args)
        for k in ("required_input_pattern", "forbidden_input_pattern"):
            if args.get(k) is not None:
                args[k] = Jsonb(args[k])
        conn.execute(
            f"select pgflow.add_step(flow_slug => %(flow)s, step_slug => %(step)s, deps_slugs => %(deps)s"
            f"{', ' + names if names else ''})",
            {"flow": slug, "step": s["slug"], "deps": list(s.get("deps", ())), **args},
        )


def register_worker(conn: psycopg.Connection, flow_slug: str) -> uuid.UUID:
    wid = uuid.uuid4()
    conn.execute(
        "insert into pgflow.workers (worker_id, queue_name, function_name) values (%s, %s, 'reliability_tests')",
        (wid, flow_slug),
    )
    return wid


def start_flow(conn: psycopg.Connection, flow_slug: str, input: Any, run_id: uuid.UUID | None = None) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "select * from pgflow.start_flow(flow_slug => %s, input => %s, run_id => %s)",
            (flow_slug, Jsonb(input), run_id),
        ).fetchone()
    assert row is not None
    return row


def read_and_start(
    conn: psycopg.Connection, flow_slug: str, worker_id: uuid.UUID, *, qty: int = 1000, vt: int = 30
) -> list[dict[str, Any]]:
    """pgmq.read every visible message (up to qty) and start_tasks them, as one worker poll."""
    ids = [r[0] for r in conn.execute("select msg_id from pgmq.read(%s, %s, %s)", (flow_slug, vt, qty))]
    if not ids:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select * from pgflow.start_tasks(flow_slug => %s, msg_ids => %s::bigint[], worker_id => %s)",
            (flow_slug, ids, worker_id),
        ).fetchall()


def complete_task(conn: psycopg.Connection, run_id: Any, step_slug: str, task_index: int, output: Any) -> list[Any]:
    return conn.execute(
        "select * from pgflow.complete_task(run_id => %s, step_slug => %s, task_index => %s, output => %s)",
        (run_id, step_slug, task_index, None if output is None else Jsonb(output)),
    ).fetchall()


def fail_task(conn: psycopg.Connection, run_id: Any, step_slug: str, task_index: int, error: str) -> list[Any]:
    return conn.execute(
        "select * from pgflow.fail_task(run_id => %s, step_slug => %s, task_index => %s, error_message => %s)",
        (run_id, step_slug, task_index, error),
    ).fetchall()


def drain_sql(conn: psycopg.Connection, flow_slug: str, handler: Callable[[dict[str, Any]], Any],
              *, timeout: float = 60.0) -> int:
    """Run every task of the flow to completion through the SQL API (single-threaded worker).
    Returns the number of tasks handled. Stops when the queue has no message at all."""
    wid = register_worker(conn, flow_slug)
    done = 0
    deadline = time.monotonic() + timeout
    while queue_size(conn, flow_slug) and time.monotonic() < deadline:
        for t in read_and_start(conn, flow_slug, wid):
            complete_task(conn, t["run_id"], t["step_slug"], t["task_index"], handler(t))
            done += 1
    assert queue_size(conn, flow_slug) == 0, "queue not drained before the deadline"
    return done


# ------------------------------------------------------------------------------------------
# Reading state directly
# ------------------------------------------------------------------------------------------


def queue_table(flow_slug: str) -> sql.Composed:
    return sql.SQL("pgmq.{}").format(sql.Identifier("q_" + flow_slug.lower()))


def queue_rows(conn: psycopg.Connection, flow_slug: str, run_id: Any | None = None) -> list[dict[str, Any]]:
    """Rows of pgmq.q_<flow> (visible or not), optionally only the run's messages."""
    q = sql.SQL("select msg_id, read_ct, vt, message from {} "
                "where %(r)s::text is null or message->>'run_id' = %(r)s::text "
                "order by msg_id").format(queue_table(flow_slug))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(q, {"r": None if run_id is None else str(run_id)}).fetchall()


def queue_size(conn: psycopg.Connection, flow_slug: str) -> int:
    return int(conn.execute(sql.SQL("select count(*) from {}").format(queue_table(flow_slug))).fetchone()[0])  # type: ignore[index]


TABLES = ("flows", "steps", "deps", "runs", "step_states", "step_tasks", "workers")


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows per pgflow table plus pgmq queues and all their messages: the 'no partial state' probe."""
    out = {t: int(conn.execute(f"select count(*) from pgflow.{t}").fetchone()[0]) for t in TABLES}  # type: ignore[index]
    queues = [r[0] for r in conn.execute("select queue_name from pgmq.list_queues()")]
    out["pgmq_queues"] = len(queues)
    out["pgmq_messages"] = sum(queue_size(conn, q) for q in queues)
    return out


def step_states(conn: psycopg.Connection, run_id: Any) -> dict[str, dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("select * from pgflow.step_states where run_id = %s", (run_id,)).fetchall()
    return {r["step_slug"]: r for r in rows}


def run_row(conn: psycopg.Connection, run_id: Any) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("select * from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert row is not None, f"run {run_id} not found"
    return row


def assert_run_completed_cleanly(conn: psycopg.Connection, run_id: Any, tasks_per_step: dict[str, int]) -> None:
    """The end-of-run invariants: run completed with remaining_steps 0; every step completed with
    remaining_tasks 0, initial_tasks = number of tasks, remaining_deps 0; every task completed
    exactly once (one row per index, status completed); no message of the run left in the queue."""
    run = run_row(conn, run_id)
    assert run["status"] == "completed", run
    assert run["remaining_steps"] == 0, run
    states = step_states(conn, run_id)
    assert set(states) == set(tasks_per_step), (sorted(states), sorted(tasks_per_step))
    for slug, n in tasks_per_step.items():
        s = states[slug]
        assert (s["status"], s["remaining_tasks"], s["initial_tasks"], s["remaining_deps"]) == ("completed", 0, n, 0), s
    rows = conn.execute(
        "select step_slug, task_index, status, count(*) over (partition by step_slug, task_index) "
        "from pgflow.step_tasks where run_id = %s",
        (run_id,),
    ).fetchall()
    got = defaultdict(list)
    for step, idx, status, dup in rows:
        assert status == "completed" and dup == 1, (step, idx, status, dup)
        got[step].append(idx)
    for slug, n in tasks_per_step.items():
        assert sorted(got[slug]) == list(range(n)), (slug, n, sorted(got[slug])[:10])
    assert queue_rows(conn, run["flow_slug"], run_id) == []


# ------------------------------------------------------------------------------------------
# Worker processes
# ------------------------------------------------------------------------------------------


@dataclass
class WorkerProc:
    """A worker process started by `spawn_worker`: `python -m tests.reliability._worker_main`."""

    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye to the database."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (graceful drain), escalating to SIGKILL after `timeout`. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return int(self.proc.returncode)


def spawn_worker(
    dsn: str, flow: str, tmp: Path, *, name: str, workers: int = 1, extra_env: dict[str, str] | None = None,
    **options: Any,
) -> WorkerProc:
    """Start a worker process serving `flow` ("module:attribute"). `workers` Worker instances
    share the process's event loop. Keyword options go to Worker(...). stdout+stderr go to
    <tmp>/<name>.log."""
    log = tmp / f"{name}.log"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'client'}", "REL_DSN": dsn, "REL_DIR": str(tmp),
           **(extra_env or {})}
    cmd = [sys.executable, "-m", "tests.reliability._worker_main", "--dsn", dsn, "--flow", flow,
           "--workers", str(workers), "--options", json.dumps(options)]
    fh = open(log, "wb")  # the child owns it
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    fh.close()
    return WorkerProc(proc, log, env)


def stop_all(procs: Iterable[WorkerProc]) -> None:
    procs = list(procs)
    for p in procs:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGTERM)
    for p in procs:
        p.stop()


def age_started_tasks(conn: psycopg.Connection, where: str = "true", params: Sequence[Any] = ()) -> int:
    """Move started tasks' clocks back an hour, as if their flow timeout + 30 s had passed. This
    is how the tests inject time: requeue_stalled_tasks compares started_at with now()."""
    cur = conn.execute(
        "update pgflow.step_tasks st set queued_at = st.queued_at - interval '1 hour', "
        "started_at = st.started_at - interval '1 hour' "
        f"where st.status = 'started' and st.permanently_stalled_at is null and ({where})",
        params,
    )
    return cur.rowcount


# Worker settings for fault tests: short polls, fast heartbeats and a maintenance sweep
# (requeue_stalled_tasks) every 0.2 s, so recovery takes seconds once a task's clock is aged.
FAST = {
    "concurrency": 4,
    "batch_size": 4,
    "visibility_timeout": 2,
    "max_poll_seconds": 0.5,
    "poll_interval_ms": 50,
    "heartbeat_interval": 0.5,
    "maintenance_interval": 0.2,
    "shutdown_grace": 3,
}


def spawn_cli_worker(dsn: str, flow: str, tmp: Path, *, name: str, extra_env: dict[str, str] | None = None,
                     args: Sequence[str] = ()) -> WorkerProc:
    """Start `pgflow worker MODULE:FLOW` (the CLI a deployment runs) as a process."""
    log = tmp / f"{name}.log"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'client'}", "REL_DSN": dsn, "REL_DIR": str(tmp),
           **(extra_env or {})}
    fh = open(log, "wb")  # the child owns it
    proc = subprocess.Popen([sys.executable, "-m", "pgflow", "-v", "worker", flow, "--dsn", dsn, *args],
                            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    fh.close()
    return WorkerProc(proc, log, env)


def compile_flow(conn: psycopg.Connection, flow: Any) -> None:
    res = conn.execute("select pgflow.ensure_flow_compiled(%s, %s)", (flow.slug, Jsonb(flow.shape()))).fetchone()
    assert res is not None and res[0]["status"] in ("compiled", "verified"), res


def entered(tmp: Path, pattern: str = "*") -> list[Path]:
    """Marker files written by gated handlers (see tests/reliability/flows.py)."""
    d = tmp / "entered"
    return sorted(d.glob(pattern)) if d.exists() else []


def open_gate(tmp: Path) -> None:
    (tmp / "open").touch()


class StallAger:
    """on_idle hook for wait_until: a task that has been `started` for more than `after` seconds
    of real time while its handlers are known to be quick was lost with a dead worker or a dead
    connection; age its clock so the workers' maintenance sweep (requeue_stalled_tasks) requeues
    it now instead of after flow timeout + 30 s. Counts what it aged."""

    def __init__(self, dsn: str, after: float, run_ids: Sequence[Any]) -> None:
        self.dsn, self.after, self.run_ids = dsn, after, list(run_ids)
        self.aged = 0
        self._next = 0.0

    def __call__(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + 0.5
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3) as c:
                self.aged += age_started_tasks(
                    c, "st.run_id = any(%s) and st.started_at < now() - make_interval(secs => %s)",
                    (self.run_ids, self.after))
        except psycopg.OperationalError:
            pass  # the server is restarting; try again on the next idle tick


def effects_by_task(conn: psycopg.Connection, tag: str) -> dict[tuple[str, int], int]:
    rows = conn.execute("select step, idx, count(*) from public.rel_effects where tag = %s group by 1, 2", (tag,))
    return {(s, i): n for s, i, n in rows}


def check_effects(conn: psycopg.Connection, tag: str, run_id: Any) -> tuple[int, int]:
    """Every completed task's handler ran at least once and at most attempts_count times (each
    run of a handler needs a start_tasks hand-out). Returns (executions, duplicate executions)."""
    eff = effects_by_task(conn, tag)
    tasks = {(s, i): a for s, i, a in conn.execute(
        "select step_slug, task_index, attempts_count from pgflow.step_tasks where run_id = %s", (run_id,))}
    assert set(eff) == set(tasks), (sorted(set(tasks) - set(eff))[:5], sorted(set(eff) - set(tasks))[:5])
    for k, n in eff.items():
        assert 1 <= n <= tasks[k], f"task {k} ran {n} times with attempts_count {tasks[k]}"
    return sum(eff.values()), sum(n - 1 for n in eff.values())


def log_problems(procs: Iterable[WorkerProc]) -> dict[str, list[str]]:
    """Deadlock and traceback lines in the workers' captured logs."""
    out: dict[str, list[str]] = {"deadlock": [], "traceback": []}
    for p in procs:
        for line in p.log_text().splitlines():
            low = line.lower()
            if "deadlock" in low:
                out["deadlock"].append(f"{p.log.name}: {line}")
            if "traceback" in low:
                out["traceback"].append(f"{p.log.name}: {line}")
    return out
