"""Failure paths of the SQL API across real connections: late callbacks from a second connection
after the run failed, and concurrent fail_task calls for sibling map tasks.

Events are counted from LISTEN/NOTIFY (channel `pgflow`; the plain database has no realtime
stand-in). Notifications are delivered in commit order, so every test ends by committing a
sentinel NOTIFY and reads up to it: no waiting on a timer. Concurrency is made deterministic by
holding the run row lock on a gate connection until every worker connection is seen waiting for
it in pg_stat_activity, then releasing them all at once.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.support.sql import insert_worker

WORKER = uuid.UUID("22222222-2222-2222-2222-222222222222")
SENTINEL = "__test_sentinel__"


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def _flow(conn: psycopg.Connection, slug: str, *, when_exhausted: str = "fail", tasks: int = 3) -> uuid.UUID:
    """A flow with one root map step `fan` (max_attempts 1) and a child `after`; starts a run of
    `tasks` elements and starts every task, as a worker would. Returns the run id."""
    conn.execute("select pgflow.create_flow(flow_slug => %s, max_attempts => 1)", (slug,))
    conn.execute(
        "select pgflow.add_step(flow_slug => %s, step_slug => 'fan', step_type => 'map', when_exhausted => %s)",
        (slug, when_exhausted),
    )
    conn.execute("select pgflow.add_step(flow_slug => %s, step_slug => 'after', deps_slugs => array['fan'])", (slug,))
    insert_worker(conn, slug, WORKER)
    row = conn.execute(
        "select run_id from pgflow.start_flow(flow_slug => %s, input => %s)", (slug, Jsonb(list(range(tasks))))
    ).fetchone()
    assert row is not None
    run_id: uuid.UUID = row[0]
    ids = [r[0] for r in conn.execute("select msg_id from pgmq.read(%s, 60, %s)", (slug, tasks))]
    started = conn.execute(
        "select count(*) from pgflow.start_tasks(flow_slug => %s, msg_ids => %s, worker_id => %s)", (slug, ids, WORKER)
    ).fetchone()
    assert started == (tasks,)
    return run_id


def _state(conn: psycopg.Connection, run_id: uuid.UUID) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        run = cur.execute("select * from pgflow.runs where run_id = %s", (run_id,)).fetchone()
        steps = cur.execute(
            "select * from pgflow.step_states where run_id = %s order by step_slug", (run_id,)
        ).fetchall()
        tasks = cur.execute(
            "select * from pgflow.step_tasks where run_id = %s order by step_slug, task_index", (run_id,)
        ).fetchall()
    return {"run": run, "steps": steps, "tasks": tasks}


def _queue_rows(conn: psycopg.Connection, slug: str, run_id: uuid.UUID) -> int:
    """Messages of the run still in the queue table, visible or not."""
    row = conn.execute(
        f"select count(*) from pgmq.q_{slug} where message ->> 'run_id' = %s",  # slug is a test constant
        (str(run_id),),
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def listener(db_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_dsn, autocommit=True) as c:
        c.execute("listen pgflow")
        yield c


def _events(listener: psycopg.Connection, sender: psycopg.Connection) -> list[str]:
    """Every pgflow event committed so far, in commit order (read up to a sentinel)."""
    sender.execute("select pg_notify('pgflow', %s)", (json.dumps({"event": SENTINEL}),))
    events: list[str] = []
    for n in listener.notifies(timeout=30):
        event = json.loads(n.payload)["event"]
        if event == SENTINEL:
            return events
        events.append(event)
    raise AssertionError(f"sentinel notification not received; got {events}")


# ------------------------------------------------------------------------------------------
# late callbacks
# ------------------------------------------------------------------------------------------


def test_late_callbacks_from_another_connection_change_nothing(
    conn: psycopg.Connection, db_dsn: str, listener: psycopg.Connection
) -> None:
    slug = "fp_late"
    run_id = _flow(conn, slug, tasks=3)
    _events(listener, conn)  # drop the start events

    failed = conn.execute(
        "select status from pgflow.fail_task(run_id => %s, step_slug => 'fan', task_index => 0, "
        "error_message => 'boom')",
        (run_id,),
    ).fetchone()
    assert failed == ("failed",)
    assert _events(listener, conn) == ["step:fan:failed", "run:failed"]
    before = _state(conn, run_id)
    assert before["run"]["status"] == "failed"
    assert _queue_rows(conn, slug, run_id) == 0

    with psycopg.connect(db_dsn, autocommit=True) as late:
        done = late.execute(
            "select status, output from pgflow.complete_task(run_id => %s, step_slug => 'fan', task_index => 1, "
            "output => %s)",
            (run_id, Jsonb("late")),
        ).fetchall()
        assert done == [("started", None)], "complete_task on a failed run returns the row unchanged"

        again = late.execute(
            "select status from pgflow.fail_task(run_id => %s, step_slug => 'fan', task_index => 0, "
            "error_message => 'replayed')",
            (run_id,),
        ).fetchall()
        assert again == [("failed",)]

        sibling = late.execute(
            "select status, error_message from pgflow.fail_task(run_id => %s, step_slug => 'fan', task_index => 2, "
            "error_message => 'late')",
            (run_id,),
        ).fetchall()
        assert sibling == [("failed", "late")], "a started task of a failed run is marked failed, never retried"

    after = _state(conn, run_id)
    assert after["run"] == before["run"]
    assert after["steps"] == before["steps"]
    by_index = {t["task_index"]: t for t in after["tasks"] if t["step_slug"] == "fan"}
    assert by_index[0] == before["tasks"][0], "the replayed failure changes nothing"
    assert by_index[1]["status"] == "started" and by_index[1]["output"] is None
    assert by_index[2]["status"] == "failed"
    assert _queue_rows(conn, slug, run_id) == 0
    assert _events(listener, conn) == [], "late callbacks emit no event"


# ------------------------------------------------------------------------------------------
# concurrent sibling failures
# ------------------------------------------------------------------------------------------


FAIL = (
    "select status from pgflow.fail_task(run_id => %s, step_slug => 'fan', task_index => %s, error_message => %s)"
)
COMPLETE = "select status from pgflow.complete_task(run_id => %s, step_slug => 'fan', task_index => %s, output => %s)"


def _fail_concurrently(
    db_dsn: str, gate: psycopg.Connection, run_id: uuid.UUID, n: int, *, complete_even: bool = False
) -> tuple[list[tuple[int, str]], list[BaseException]]:
    """n connections call fail_task for tasks 0..n-1 at once (complete_task for even indexes when
    complete_even), all queued behind the run row lock held by `gate` (an open transaction), then
    released together."""
    barrier = threading.Barrier(n + 1)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            with psycopg.connect(db_dsn, autocommit=True) as c:
                c.execute("set lock_timeout = '20s'")
                c.execute("set application_name = 'fp_concurrent'")
                barrier.wait(timeout=30)
                if complete_even and i % 2 == 0:
                    row = c.execute(COMPLETE, (run_id, i, Jsonb(i))).fetchone()
                else:
                    row = c.execute(FAIL, (run_id, i, f"err {i}")).fetchone()
                assert row is not None
                with lock:
                    results.append((i, row[0]))
        except BaseException as exc:  # collected and re-raised by the test thread
            with lock:
                errors.append(exc)

    with gate.transaction(), psycopg.connect(db_dsn, autocommit=True) as monitor:
        gate.execute("select 1 from pgflow.runs where run_id = %s for update", (run_id,))
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        barrier.wait(timeout=30)
        deadline = time.monotonic() + 30
        while True:  # wait for a condition, not for time: every caller blocked on the run lock
            row = monitor.execute(
                "select count(*) from pg_stat_activity where application_name = 'fp_concurrent' "
                "and wait_event_type = 'Lock'"
            ).fetchone()
            if row == (n,) or errors:
                break
            assert time.monotonic() < deadline, f"only {row} callers waiting on the run lock"
            time.sleep(0.01)
    for t in threads:
        t.join(timeout=60)
    return results, errors


@pytest.mark.parametrize("n", [8])
def test_concurrent_sibling_failures_fail_the_run_once(
    conn: psycopg.Connection, db_dsn: str, listener: psycopg.Connection, n: int
) -> None:
    slug = "fp_conc_fail"
    run_id = _flow(conn, slug, tasks=n)
    _events(listener, conn)

    with psycopg.connect(db_dsn, autocommit=True) as gate:
        results, errors = _fail_concurrently(db_dsn, gate, run_id, n)

    assert not errors, errors  # no deadlock, no lock timeout, no constraint violation
    assert sorted(results) == [(i, "failed") for i in range(n)]
    events = _events(listener, conn)
    assert events == ["step:fan:failed", "run:failed"], "exactly one step transition and one run:failed"
    state = _state(conn, run_id)
    assert state["run"]["status"] == "failed"
    assert state["run"]["remaining_steps"] == 2
    fan = next(s for s in state["steps"] if s["step_slug"] == "fan")
    assert fan["status"] == "failed" and fan["error_message"].startswith("err ")
    assert {t["status"] for t in state["tasks"] if t["step_slug"] == "fan"} == {"failed"}
    assert _queue_rows(conn, slug, run_id) == 0


@pytest.mark.parametrize("n", [8])
def test_concurrent_sibling_failures_skip_the_step_once(
    conn: psycopg.Connection, db_dsn: str, listener: psycopg.Connection, n: int
) -> None:
    slug = "fp_conc_skip"
    run_id = _flow(conn, slug, when_exhausted="skip", tasks=n)
    _events(listener, conn)

    with psycopg.connect(db_dsn, autocommit=True) as gate:
        results, errors = _fail_concurrently(db_dsn, gate, run_id, n)

    assert not errors, errors
    statuses = dict(results)
    assert len(statuses) == n
    assert list(statuses.values()).count("failed") == 1, "the first caller exhausts and skips the step"
    assert set(statuses.values()) == {"failed", "started"}, "later callers are late: their rows are unchanged"
    events = _events(listener, conn)
    assert events == ["step:fan:skipped", "step:after:started"], "one skip, then the unblocked child starts"
    state = _state(conn, run_id)
    assert state["run"]["status"] == "started"
    assert state["run"]["remaining_steps"] == 1, "remaining_steps decremented exactly once"
    after = next(s for s in state["steps"] if s["step_slug"] == "after")
    assert (after["status"], after["remaining_deps"]) == ("started", 0)
    row = conn.execute(
        "select count(*) from pgmq.q_fp_conc_skip q join pgflow.step_tasks t on t.message_id = q.msg_id "
        "where t.run_id = %s and t.step_slug = 'fan'",
        (run_id,),
    ).fetchone()
    assert row == (0,), "no message of the skipped step is left"


def test_concurrent_completions_and_failures_of_siblings_fail_the_run_once(
    conn: psycopg.Connection, db_dsn: str, listener: psycopg.Connection
) -> None:
    n = 8
    slug = "fp_conc_mixed"
    run_id = _flow(conn, slug, tasks=n)
    _events(listener, conn)

    with psycopg.connect(db_dsn, autocommit=True) as gate:
        results, errors = _fail_concurrently(db_dsn, gate, run_id, n, complete_even=True)

    assert not errors, errors
    assert len(results) == n
    assert all(status == "failed" for i, status in results if i % 2), "every failing sibling ends failed"
    assert all(status in ("completed", "started") for i, status in results if i % 2 == 0), (
        "a completion is applied before the run failed, or ignored after"
    )
    assert _events(listener, conn) == ["step:fan:failed", "run:failed"]
    state = _state(conn, run_id)
    assert state["run"]["status"] == "failed"
    fan = next(s for s in state["steps"] if s["step_slug"] == "fan")
    assert fan["status"] == "failed"
    completed = sum(1 for i, status in results if status == "completed")
    assert fan["remaining_tasks"] == n - completed, "only completions before the failure counted"
    assert _queue_rows(conn, slug, run_id) == 0
