"""Dead-worker recovery in SQL, on plain PostgreSQL, where it needs more than one session:
`worker:dead` goes out by NOTIFY on channel `pgflow` (and `pgflow_tasks` wakes the workers), and
a worker whose heartbeat is being written at the moment of the sweep is not robbed.

Every test gets its own migrated database (`db_dsn`/`conn` from tests/conftest.py). Time is
injected by moving `last_heartbeat_at` back; nothing sleeps.
"""

from __future__ import annotations

import json
import uuid

import psycopg

DEAD = uuid.UUID("dddddddd-0000-0000-0000-00000000000d")
LIVE = uuid.UUID("aaaaaaaa-0000-0000-0000-00000000000a")


def _flow_with_started_tasks(conn: psycopg.Connection, flow: str, worker: uuid.UUID, n: int) -> None:
    conn.execute("select pgflow.create_flow(%s)", (flow,))
    conn.execute("select pgflow.add_step(%s, 'each', step_type => 'map')", (flow,))
    conn.execute(
        "insert into pgflow.workers (worker_id, queue_name, function_name) values (%s, %s, 'fn')", (worker, flow)
    )
    conn.execute("select pgflow.start_flow(%s, %s::jsonb)", (flow, json.dumps(list(range(n)))))
    started = conn.execute("select * from pgflow.read_and_start_tasks(%s, %s, 300, 100)", (flow, worker)).fetchall()
    assert len(started) == n


def _heartbeat_ago(conn: psycopg.Connection, worker: uuid.UUID, seconds: int) -> None:
    conn.execute(
        "update pgflow.workers set last_heartbeat_at = clock_timestamp() - make_interval(secs => %s)"
        " where worker_id = %s",
        (seconds, worker),
    )


def test_dead_worker_event_and_wake_up_by_notify(db_dsn: str, conn: psycopg.Connection) -> None:
    _flow_with_started_tasks(conn, "rcv_notify", DEAD, 3)
    _heartbeat_ago(conn, DEAD, 20)

    with psycopg.connect(db_dsn, autocommit=True) as listener:
        listener.execute("listen pgflow")
        listener.execute("listen pgflow_tasks")
        rows = conn.execute(
            "select task_index, outcome from pgflow.requeue_dead_worker_tasks(heartbeat_timeout => '15 seconds')"
        ).fetchall()
        assert rows == [(0, "requeued"), (1, "requeued"), (2, "requeued")]

        notes = list(listener.notifies(timeout=10, stop_after=2))
        by_channel = {n.channel: n.payload for n in notes}
        assert by_channel["pgflow_tasks"] == "rcv_notify", "idle workers are woken once for the flow"
        event = json.loads(by_channel["pgflow"])
        last_heartbeat = event.pop("last_heartbeat_at")
        assert event == {
            "event": "worker:dead",
            "event_type": "worker:dead",
            "worker_id": str(DEAD),
            "queue_name": "rcv_notify",
            "function_name": "fn",
            "requeued_tasks": 3,
            "stalled_tasks": 0,
        }
        assert last_heartbeat is not None


def test_a_heartbeat_being_written_keeps_the_worker_alive(db_dsn: str, conn: psycopg.Connection) -> None:
    _flow_with_started_tasks(conn, "rcv_alive", LIVE, 2)
    _heartbeat_ago(conn, LIVE, 20)

    # the worker's heartbeat is in flight (row locked, not committed) when the sweep runs
    with psycopg.connect(db_dsn) as worker_conn:
        worker_conn.execute(
            "update pgflow.workers set last_heartbeat_at = clock_timestamp() where worker_id = %s", (LIVE,)
        )
        swept = conn.execute("select * from pgflow.requeue_dead_worker_tasks(heartbeat_timeout => '15 seconds')")
        assert swept.fetchall() == [], "a worker whose heartbeat is being written is alive"
        worker_conn.commit()

    after = conn.execute("select * from pgflow.requeue_dead_worker_tasks(heartbeat_timeout => '15 seconds')")
    assert after.fetchall() == [], "and once it is written, its heartbeat is fresh"
    statuses = conn.execute(
        "select array_agg(status order by task_index) from pgflow.step_tasks where flow_slug = 'rcv_alive'"
    ).fetchone()
    assert statuses == (["started", "started"],)
