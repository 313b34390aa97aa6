"""Events reach LISTENers on channel `pgflow` on plain PostgreSQL (no realtime schema), and a payload
too large for NOTIFY arrives without its bulky keys and with "truncated": true."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from tests.support.sql import insert_worker


def test_events_are_notified_and_large_ones_truncated(conn: psycopg.Connection[Any], db_dsn: str) -> None:
    conn.execute("listen pgflow")
    with psycopg.connect(db_dsn, autocommit=True) as other:
        assert other.execute("select to_regprocedure('realtime.send(jsonb,text,text,boolean)')").fetchone() == (None,)
        other.execute("select pgflow.create_flow('ev_flow')")
        other.execute("select pgflow.add_step('ev_flow', 'big')")
        run_id = other.execute("select run_id from pgflow.start_flow('ev_flow', '{}')").fetchone()[0]  # type: ignore[index]
        worker = insert_worker(other, "ev_flow", "00000000-0000-0000-0000-00000000ee01")
        ids = [r[0] for r in other.execute("select msg_id from pgmq.read('ev_flow', 30, 1)").fetchall()]
        other.execute("select * from pgflow.start_tasks('ev_flow', %s, %s)", (ids, worker))
        other.execute("select * from pgflow.complete_task(%s, 'big', 0, %s)", (run_id, json.dumps("x" * 20000)))

    events = []
    for n in conn.notifies(timeout=10):
        events.append(json.loads(n.payload))
        if events[-1]["event"] == "run:completed":
            break
    names = [e["event"] for e in events]
    assert names == ["run:started", "step:big:started", "step:big:completed", "run:completed"]
    step_done = events[2]
    assert step_done["truncated"] is True and "output" not in step_done
    assert step_done["run_id"] == str(run_id) and step_done["status"] == "completed"
    assert "truncated" not in events[0] and events[0]["input"] == {}
