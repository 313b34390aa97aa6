"""pgflow.start_flow_idempotent called with one key from 8 connections at once starts one run.

The overlap is deterministic: a gate connection holds the flow's row (FOR UPDATE), so the first
caller, having claimed the key, blocks in start_flow on the runs foreign key to that row, and the
seven others block on the key it claimed; the test waits until pg_stat_activity shows all eight
waiting on a lock, then opens the gate. A second test races eight callers behind a barrier only,
with no gate, for several keys. A third checks that run:cancelled and run:resumed reach NOTIFY
listeners (the pgTAP tests see the Realtime side).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import psycopg

N = 8
FLOW = "idem_race"
INPUT = {"order": 42}


@dataclass
class Race:
    """N threads, each on its own connection, calling start_flow_idempotent behind a barrier."""

    db_dsn: str
    key: str
    run_ids: list[uuid.UUID] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)
    threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(N)

    def _call(self) -> None:
        try:
            with psycopg.connect(self.db_dsn, autocommit=True) as c:
                c.execute("set lock_timeout = '60s'")
                with self._lock:
                    self.pids.add(c.info.backend_pid)
                self._barrier.wait(timeout=30)
                row = c.execute(
                    "select run_id from pgflow.start_flow_idempotent(flow_slug => %s, input => %s::jsonb,"
                    " idempotency_key => %s)",
                    (FLOW, json.dumps(INPUT), self.key),
                ).fetchone()
                assert row is not None
                with self._lock:
                    self.run_ids.append(row[0])
        except BaseException as exc:  # reported by the test
            with self._lock:
                self.errors.append(exc)

    def start(self) -> Race:
        self.threads = [threading.Thread(target=self._call) for _ in range(N)]
        for t in self.threads:
            t.start()
        return self

    def join(self) -> Race:
        for t in self.threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a caller never returned"
        return self


def _setup(conn: psycopg.Connection) -> None:
    conn.execute("select pgflow.create_flow(%s)", (FLOW,))
    conn.execute("select pgflow.add_step(%s, 'only')", (FLOW,))


def _wait_for_lock_waiters(conn: psycopg.Connection, race: Race, timeout: float = 30.0) -> None:
    """Until all N callers wait on a heavyweight lock (polls the server's own view: no sleeping
    for correctness)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with race._lock:
            pids = list(race.pids)
        row = conn.execute(
            "select count(*) from pg_stat_activity where pid = any(%s) and wait_event_type = 'Lock'", (pids,)
        ).fetchone()
        if len(pids) == N and row == (N,):
            return
        time.sleep(0.01)
    raise AssertionError("the eight callers never all blocked")


def test_one_key_from_eight_connections_at_once_starts_one_run(db_dsn: str, conn: psycopg.Connection) -> None:
    _setup(conn)
    with psycopg.connect(db_dsn) as gate:
        gate.execute("select 1 from pgflow.flows where flow_slug = %s for update", (FLOW,))
        race = Race(db_dsn, "order-42").start()
        _wait_for_lock_waiters(conn, race)
        gate.commit()
        race.join()

    assert race.errors == []
    assert len(race.run_ids) == N
    assert len(set(race.run_ids)) == 1, "every caller got the same run"
    row = conn.execute(
        "select (select count(*) from pgflow.runs where flow_slug = %(f)s),"
        " (select count(*) from pgflow.step_states where flow_slug = %(f)s),"
        " (select count(*) from pgflow.step_tasks where flow_slug = %(f)s),"
        " (select count(*) from pgflow.run_idempotency_keys where flow_slug = %(f)s and run_id = %(r)s),"
        f" (select count(*) from pgmq.q_{FLOW})",
        {"f": FLOW, "r": race.run_ids[0]},
    ).fetchone()
    assert row == (1, 1, 1, 1, 1), "one run, step state, task, key and message"


def test_keys_raced_behind_a_barrier_start_one_run_each(db_dsn: str, conn: psycopg.Connection) -> None:
    _setup(conn)
    seen: set[uuid.UUID] = set()
    for k in range(5):
        race = Race(db_dsn, f"key-{k}").start().join()
        assert race.errors == []
        assert len(race.run_ids) == N and len(set(race.run_ids)) == 1, f"key-{k}: {set(race.run_ids)}"
        seen.add(race.run_ids[0])
    assert len(seen) == 5
    row = conn.execute("select count(*) from pgflow.runs where flow_slug = %s", (FLOW,)).fetchone()
    assert row == (5,)


def test_cancel_and_resume_are_notified(conn: psycopg.Connection, db_dsn: str) -> None:
    """run:cancelled and run:resumed reach LISTENers on channel `pgflow` like the other events."""
    _setup(conn)
    conn.execute("listen pgflow")
    with psycopg.connect(db_dsn, autocommit=True) as other:
        row = other.execute("select run_id from pgflow.start_flow(%s, '{}')", (FLOW,)).fetchone()
        assert row is not None
        run_id = row[0]
        other.execute("select pgflow.cancel_run(run_id => %s)", (run_id,))
        other.execute("select pgflow.resume_run(run_id => %s)", (run_id,))

    events = []
    for n in conn.notifies(timeout=10):
        events.append(json.loads(n.payload))
        if events[-1]["event"] == "step:only:started" and len(events) > 2:
            break
    assert [e["event"] for e in events] == [
        "run:started", "step:only:started", "run:cancelled", "run:resumed", "step:only:started"
    ]
    cancelled = events[2]
    assert cancelled["run_id"] == str(run_id) and cancelled["status"] == "cancelled"
    assert cancelled["flow_slug"] == FLOW and cancelled["cancelled_at"]


def test_cancel_while_a_worker_holds_a_message_it_read_does_not_deadlock(
    conn: psycopg.Connection, db_dsn: str
) -> None:
    """A worker holds a message of the run (read, transaction open) when cancel_run, having locked
    the run's tasks, waits to archive that message; the worker then starts its tasks: it skips the
    task cancel_run holds instead of waiting for it (which would close a deadlock), commits, and
    cancel_run archives the message."""
    _setup(conn)
    worker_id = "00000000-0000-0000-0000-00000000c0de"
    conn.execute(
        "insert into pgflow.workers (worker_id, queue_name, function_name) values (%s, %s, 'test')", (worker_id, FLOW)
    )
    row = conn.execute("select run_id from pgflow.start_flow(%s, '{}')", (FLOW,)).fetchone()
    assert row is not None
    run_id = row[0]

    with psycopg.connect(db_dsn) as worker:
        worker.execute("set lock_timeout = '20s'")
        msg_ids = [r[0] for r in worker.execute("select msg_id from pgmq.read(%s, 30, 10)", (FLOW,)).fetchall()]
        assert len(msg_ids) == 1

        cancelled: dict[str, object] = {}

        def cancel() -> None:
            try:
                with psycopg.connect(db_dsn, autocommit=True) as c:
                    cancelled["pid"] = c.info.backend_pid
                    cancelled["row"] = c.execute("select status from pgflow.cancel_run(%s)", (run_id,)).fetchone()
            except BaseException as exc:  # reported by the test
                cancelled["error"] = exc

        canceller = threading.Thread(target=cancel)
        canceller.start()
        deadline = time.monotonic() + 30
        while True:  # cancel_run waits on the message the worker holds
            pid = cancelled.get("pid")
            waiting = pid is not None and conn.execute(
                "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s", (pid,)
            ).fetchone() == (True,)
            if waiting:
                break
            assert "error" not in cancelled and time.monotonic() < deadline, cancelled
            time.sleep(0.01)

        started = worker.execute(
            "select * from pgflow.start_tasks(%s, %s, %s)", (FLOW, msg_ids, worker_id)
        ).fetchall()
        assert started == [], "the task cancel_run holds is skipped, not waited for"
        worker.commit()
        canceller.join(timeout=30)

    assert "error" not in cancelled, cancelled.get("error")
    assert cancelled["row"] == ("cancelled",)
    row = conn.execute(
        f"select (select status from pgflow.step_tasks where run_id = %s), (select count(*) from pgmq.q_{FLOW}),"
        f" (select count(*) from pgmq.a_{FLOW})",
        (run_id,),
    ).fetchone()
    assert row == ("cancelled", 0, 1), "task cancelled, its message archived"
