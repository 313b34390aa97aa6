"""The reliability suite's instruments: counters of faults injected and losses found (the
session summary prints them; docs/RELIABILITY.md quotes it), the stall ager that stands in for
time passing, handler side-effect checks, gate markers, and a scan of worker logs.

Nothing here sleeps for correctness: waits go through tests.support.waiting.wait_until.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg

from tests.support.processes import WorkerProcess
from tests.support.sql import age_started_tasks

# area -> metric -> count; printed by tests/reliability/conftest.py at the end of the session.
COUNTS: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))


def count(area: str, **metrics: int) -> None:
    for k, v in metrics.items():
        COUNTS[area][k] += int(v)


def entered(tmp: Path, pattern: str = "*") -> list[Path]:
    """Marker files written by gated handlers (see tests/support/reliability_flows.py)."""
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


def log_problems(procs: Iterable[WorkerProcess]) -> dict[str, list[str]]:
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
