"""A run that fails with hundreds of tasks in flight leaves nothing behind in its queue.

Driven through the SQL API exactly as workers drive it (pgmq.read, start_tasks, complete_task,
fail_task), so every task is in a known state when the run fails: started, queued and visible,
queued but read (invisible), queued with a retry backoff (becomes visible later), completed.
After the failure the queue table pgmq.q_<flow> is read directly: no message of the run may be
there, visible or not, so none can surface later. Late complete_task/fail_task callbacks of the
failed run's started tasks must not touch run or step state. A second run of the same flow, in
flight at the same time, must lose nothing and still complete.
"""

from __future__ import annotations

from typing import Any

import psycopg

from tests.support.faults import count
from tests.support.sql import (
    complete_task,
    define_flow,
    drain_sql,
    fail_task,
    insert_worker,
    queue_rows,
    run_row,
    start_flow,
    step_states,
)

FLOW = "rel_runfail"
K = 300


def _state(conn: psycopg.Connection, rid: Any) -> tuple[Any, ...]:
    run = run_row(conn, rid)
    return (run, step_states(conn, rid))


def test_failed_run_archives_every_message_and_ignores_late_callbacks(conn: psycopg.Connection) -> None:
    define_flow(conn, FLOW, [
        {"slug": "wide", "step_type": "map"},
        {"slug": "other", "step_type": "map"},
        {"slug": "boom", "max_attempts": 1},
        {"slug": "after", "deps": ["wide"]},
    ], max_attempts=3, base_delay=5, timeout=60)
    wid = insert_worker(conn, FLOW)
    a = start_flow(conn, FLOW, list(range(K)))["run_id"]
    total_a = len(queue_rows(conn, FLOW, a))
    assert total_a == 2 * K + 1

    # read 450 of A's 601 messages; start 250 of those (boom included), leave 200 read-not-started
    read = conn.execute("select msg_id, message from pgmq.read(%s, 30, 450)", (FLOW,)).fetchall()
    boom_id = next((m for m, body in read if body["step_slug"] == "boom"), None)
    if boom_id is None:  # boom's message is sent last; make sure it is among the started ones
        boom_id = conn.execute("select msg_id from pgmq.read(%s, 30, 1000)", (FLOW,)).fetchall()[-1][0]
    start_ids = [boom_id, *[m for m, body in read if body["step_slug"] != "boom"][:249]]
    started = conn.execute(
        "select run_id, step_slug, task_index from pgflow.start_tasks(%s, %s::bigint[], %s)", (FLOW, start_ids, wid)
    ).fetchall()
    assert len(started) == 250
    workload = [t for t in started if t[1] != "boom"]
    for t in workload[:30]:
        complete_task(conn, *t, {"ok": t[2]})
    for t in workload[30:50]:  # retries left: back to queued, message hidden for base_delay * 2 s
        fail_task(conn, *t, "transient")
    in_flight = workload[50:]  # still started

    b = start_flow(conn, FLOW, [1, 2, 3])["run_id"]
    b_msgs = queue_rows(conn, FLOW, b)
    assert len(b_msgs) == 7

    active = conn.execute(
        "select step_slug, status, count(*) from pgflow.step_tasks where run_id = %s "
        "and status in ('queued', 'started') group by 1, 2 order by 1, 2", (a,)
    ).fetchall()
    n_active = sum(r[2] for r in active)
    assert n_active >= 500 and {r[0] for r in active} >= {"wide", "other", "boom"}, active
    delayed = [r for r in queue_rows(conn, FLOW, a) if r["vt"] > conn.execute("select clock_timestamp()").fetchone()[0]]
    assert len(delayed) >= 20 + 200 + 200

    # the failure: boom has one attempt
    fail_task(conn, a, "boom", 0, "fatal")
    run = run_row(conn, a)
    assert run["status"] == "failed" and run["failed_at"] is not None
    states = step_states(conn, a)
    assert states["boom"]["status"] == "failed" and states["boom"]["error_message"] == "fatal"
    assert (states["wide"]["status"], states["other"]["status"], states["after"]["status"]) == (
        "started", "started", "created")

    # nothing of run A remains in the queue table, visible or not: it cannot surface later
    orphans = queue_rows(conn, FLOW, a)
    assert orphans == [], f"{len(orphans)} messages of the failed run left in pgmq.q_{FLOW}"
    archived = conn.execute(
        f"select count(*), count(distinct msg_id) from pgmq.a_{FLOW} where message->>'run_id' = %s", (str(a),)
    ).fetchone()
    assert archived == (total_a, total_a)
    # run B lost nothing
    assert queue_rows(conn, FLOW, b) == b_msgs

    # late callbacks for every started task of A are no-ops for run and step state
    snapshot = _state(conn, a)
    for t in in_flight[: len(in_flight) // 2]:
        assert len(complete_task(conn, *t, {"late": True})) == 1
    for t in in_flight[len(in_flight) // 2:]:
        assert len(fail_task(conn, *t, "late failure")) == 1
    for t in workload[30:50]:  # the retried (queued) ones too
        complete_task(conn, *t, {"late": True})
        fail_task(conn, *t, "late")
    assert _state(conn, a) == snapshot
    assert queue_rows(conn, FLOW, a) == []
    completed = conn.execute(
        "select count(*) from pgflow.step_tasks where run_id = %s and status = 'completed'", (a,)).fetchone()
    assert completed == (30,), "a late complete_task completed a task of a failed run"
    # no message id of run A can be started any more
    ids = [r[0] for r in conn.execute("select message_id from pgflow.step_tasks where run_id = %s", (a,))]
    assert conn.execute("select * from pgflow.start_tasks(%s, %s::bigint[], %s)", (FLOW, ids, wid)).fetchall() == []

    # run B finishes normally alongside
    drain_sql(conn, FLOW, lambda t: t["input"] if t["step_slug"] != "boom" else None)
    assert run_row(conn, b)["status"] == "completed"
    assert queue_rows(conn, FLOW) == []

    count("run failure", runs_failed=1, active_tasks_at_failure=n_active,
          late_callbacks=len(in_flight) + 2 * 20, messages_orphaned=len(orphans), tasks_completed_late=0)
