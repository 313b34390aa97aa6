"""A big map on a fresh database refreshes step_tasks' statistics at once, so workers' plans are
made for a big table (the first 10,000-element map of a new database took 25 s instead of 5 s when
they were not); once the table is known to be big, starting a map does not analyze again."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from tests.support.sql import insert_worker


def _reltuples(conn: psycopg.Connection[Any]) -> float:
    row = conn.execute("select reltuples from pg_class where oid = 'pgflow.step_tasks'::regclass").fetchone()
    assert row is not None
    return float(row[0])


def test_first_big_map_analyzes_step_tasks_then_not_again(conn: psycopg.Connection[Any]) -> None:
    conn.execute("select pgflow.create_flow('stats_map')")
    conn.execute("select pgflow.add_step('stats_map', 'each', step_type => 'map')")
    assert _reltuples(conn) < 1  # never analyzed (-1) or empty
    conn.execute("select pgflow.start_flow('stats_map', %s)", (json.dumps(list(range(1500))),))
    assert _reltuples(conn) == 1500
    has_stats = conn.execute(
        "select count(*) from pg_stats where schemaname = 'pgflow' and tablename = 'step_tasks'"
    ).fetchone()
    assert has_stats is not None and has_stats[0] > 0

    conn.execute("select pgflow.start_flow('stats_map', %s)", (json.dumps(list(range(1200))),))
    assert _reltuples(conn) == 1500  # 1,200 new tasks < 1,500 known: no second analyze
    small = conn.execute("select count(*) from pgflow.step_tasks").fetchone()
    assert small == (2700,)


def test_dependent_big_map_started_by_batched_completion_analyzes_too(conn: psycopg.Connection[Any]) -> None:
    conn.execute("select pgflow.create_flow('stats_dep')")
    conn.execute("select pgflow.add_step('stats_dep', 'items')")
    conn.execute("select pgflow.add_step('stats_dep', 'each', array['items'], step_type => 'map')")
    run_id = conn.execute("select run_id from pgflow.start_flow('stats_dep', '{}')").fetchone()[0]  # type: ignore[index]
    worker = insert_worker(conn, "stats_dep", "00000000-0000-0000-0000-00000000a001")
    ids = [r[0] for r in conn.execute("select msg_id from pgmq.read('stats_dep', 30, 1)").fetchall()]
    conn.execute("select * from pgflow.start_tasks('stats_dep', %s, %s)", (ids, worker))
    assert _reltuples(conn) < 2
    conn.execute(
        "select * from pgflow.complete_tasks(array[%s]::uuid[], array['items'], array[0], array[%s]::jsonb[])",
        (run_id, json.dumps(list(range(1500)))),
    )
    assert conn.execute("select count(*) from pgflow.step_tasks where step_slug = 'each'").fetchone() == (1500,)
    assert _reltuples(conn) == 1501
