"""Sibling map tasks of one run completed concurrently from separate connections.

complete_task locks the run row first, then the step state, so concurrent completions of
sibling tasks serialize instead of deadlocking, and exactly one of them (the last) completes
the step and writes its output. The overlap is made deterministic: a gate connection holds
the run row lock, every worker thread calls complete_task behind a barrier, the test waits
until pg_stat_activity shows them all blocked on that lock, then opens the gate.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from tests.support.sql import insert_worker

WORKER_ID = "11111111-1111-1111-1111-111111111111"
N = 8


def _setup(conn: psycopg.Connection, flow: str, elements: list[Any]) -> uuid.UUID:
    conn.execute("select pgflow.create_flow(%s)", (flow,))
    conn.execute("select pgflow.add_step(%s, 'each', step_type => 'map')", (flow,))
    conn.execute("select pgflow.add_step(%s, 'after', array['each'])", (flow,))
    row = conn.execute("select run_id from pgflow.start_flow(%s, %s::jsonb)", (flow, json.dumps(elements))).fetchone()
    assert row is not None
    insert_worker(conn, flow, WORKER_ID)
    started = conn.execute(
        "select count(*) from pgflow.start_tasks(%s, (select array_agg(message_id) from pgflow.step_tasks"
        " where run_id = %s), %s::uuid)",
        (flow, row[0], WORKER_ID),
    ).fetchone()
    assert started == (len(elements),)
    return row[0]


def _wait_for_lock_waiters(conn: psycopg.Connection, pids: set[int], timeout: float = 30.0) -> None:
    """Until every backend in pids waits on a heavyweight lock (no sleeping for correctness:
    this polls the server's own view of who waits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "select count(*) from pg_stat_activity where pid = any(%s) and wait_event_type = 'Lock'",
            (list(pids),),
        ).fetchone()
        if row and row[0] == len(pids):
            return
        time.sleep(0.01)
    raise AssertionError("worker connections never all blocked on the run lock")


def test_sibling_map_tasks_complete_concurrently_once_in_order(db_dsn: str, conn: psycopg.Connection) -> None:
    flow = "conc_map"
    run_id = _setup(conn, flow, [f"e{i}" for i in range(N)])

    listener = psycopg.connect(db_dsn, autocommit=True)
    listener.execute("listen pgflow")

    gate = psycopg.connect(db_dsn)
    gate.execute("select 1 from pgflow.runs where run_id = %s for update", (run_id,))

    barrier = threading.Barrier(N)
    errors: list[BaseException] = []
    results: dict[int, str] = {}
    pids: set[int] = set()
    pids_lock = threading.Lock()

    def complete(index: int) -> None:
        try:
            with psycopg.connect(db_dsn, autocommit=True) as c:
                c.execute("set lock_timeout = '60s'")
                with pids_lock:
                    pids.add(c.info.backend_pid)
                barrier.wait(timeout=30)
                row = c.execute(
                    "select status from pgflow.complete_task(%s, 'each', %s, %s::jsonb)",
                    (run_id, index, json.dumps(f"out{index}")),
                ).fetchone()
                assert row is not None
                results[index] = row[0]
        except BaseException as exc:  # reported to the main thread, re-raised there
            errors.append(exc)

    # reverse order, so completion order differs from task order
    threads = [threading.Thread(target=complete, args=(i,)) for i in reversed(range(N))]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while len(pids) < N and time.monotonic() < deadline and not errors:
            time.sleep(0.01)
        assert not errors, errors
        _wait_for_lock_waiters(conn, pids)
    finally:
        gate.commit()  # open the gate: all N race for the run lock
        gate.close()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a completion never returned (deadlock?)"
    assert not errors, errors
    assert results == {i: "completed" for i in range(N)}

    state = conn.execute(
        "select status, remaining_tasks, output from pgflow.step_states where run_id = %s and step_slug = 'each'",
        (run_id,),
    ).fetchone()
    assert state == ("completed", 0, [f"out{i}" for i in range(N)])

    run = conn.execute("select status, remaining_steps from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert run == ("started", 1), "remaining_steps decremented exactly once for the map"

    after = conn.execute(
        "select ss.status, ss.remaining_deps, (select count(*) from pgflow.step_tasks as st"
        " where st.run_id = ss.run_id and st.step_slug = 'after')"
        " from pgflow.step_states as ss where ss.run_id = %s and ss.step_slug = 'after'",
        (run_id,),
    ).fetchone()
    assert after == ("started", 0, 1), "the dependent step started once, with one task"

    queued = conn.execute(f"select count(*) from pgmq.q_{flow}").fetchone()
    assert queued == (1,), "only the dependent step's message is left in the queue"

    completed_events = [
        json.loads(n.payload)
        for n in listener.notifies(timeout=1.0)
        if json.loads(n.payload).get("event") == "step:each:completed"
    ]
    listener.close()
    assert len(completed_events) == 1, "step:each:completed notified exactly once"
    assert completed_events[0]["output"] == [f"out{i}" for i in range(N)]


def test_start_ready_steps_wakes_workers_only_for_visible_messages(db_dsn: str, conn: psycopg.Connection) -> None:
    listener = psycopg.connect(db_dsn, autocommit=True)
    listener.execute("listen pgflow_tasks")
    conn.execute("select pgflow.create_flow('wake_now')")
    conn.execute("select pgflow.add_step('wake_now', 'a')")
    conn.execute("select pgflow.add_step('wake_now', 'b')")
    conn.execute("select pgflow.create_flow('wake_later')")
    conn.execute("select pgflow.add_step('wake_later', 'a', start_delay => 60)")

    conn.execute("select pgflow.start_flow('wake_now', '{}')")
    conn.execute("select pgflow.start_flow('wake_later', '{}')")

    payloads = [n.payload for n in listener.notifies(timeout=1.0)]
    listener.close()
    assert payloads == ["wake_now"], "one wake-up per start_ready_steps call, none for delayed messages"


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_start_tasks_never_start_a_task_twice(db_dsn: str, conn: psycopg.Connection, attempt: int) -> None:
    """Several workers offered the same message ids at once (as after a vt expiry), in opposite
    orders: each task is started by exactly one of them, attempts_count is 1, no deadlock."""
    flow = f"conc_start_{attempt}"
    conn.execute("select pgflow.create_flow(%s)", (flow,))
    conn.execute("select pgflow.add_step(%s, 'each', step_type => 'map')", (flow,))
    row = conn.execute(
        "select run_id from pgflow.start_flow(%s, %s::jsonb)", (flow, json.dumps(list(range(20))))
    ).fetchone()
    assert row is not None
    run_id = row[0]
    ids = [
        m
        for (m,) in conn.execute(
            "select message_id from pgflow.step_tasks where run_id = %s order by message_id desc", (run_id,)
        )
    ]
    worker_ids = [str(uuid.uuid4()) for _ in range(4)]
    for w in worker_ids:
        insert_worker(conn, flow, w)
    barrier = threading.Barrier(len(worker_ids))
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def start(worker: str, order: list[int]) -> None:
        try:
            with psycopg.connect(db_dsn, autocommit=True) as c:
                barrier.wait(timeout=30)
                cur = c.execute(
                    "select task_index from pgflow.start_tasks(%s, %s::bigint[], %s::uuid)",
                    (flow, order, worker),
                )
                got[worker] = [t for (t,) in cur]
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=start, args=(w, ids if i % 2 else list(reversed(ids))))
        for i, w in enumerate(worker_ids)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a start_tasks call never returned (deadlock?)"
    assert not errors, errors
    started = sorted(t for ts in got.values() for t in ts)
    assert started == list(range(20)), "every task started exactly once across workers"
    attempts = conn.execute(
        "select array_agg(distinct attempts_count) from pgflow.step_tasks where run_id = %s", (run_id,)
    ).fetchone()
    assert attempts == ([1],)
