"""The runs list's statements use the runs_by_* indexes for every filter combination: an index
scan, never a sequential scan nor a sort of many rows, whatever the filters (the timing on 1,000,000 runs is
tests/bench/ui_runs_list.py's job; this checks the plans that make it fast)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgflow import queries
from tests.conftest import Server

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CURSOR = {"cursor_started_at": NOW - dt.timedelta(days=3), "cursor_run_id": "80000000-0000-0000-0000-000000000000"}
CASES = {
    "no filter": ({}, "runs_by_started_at"),
    "one flow": ({"flow_slug": "p_3"}, "runs_by_flow_slug_started_at"),
    "one status": ({"status": "failed"}, "runs_by_status_started_at"),
    "completed": ({"status": "completed"}, "runs_by_started_at"),
    "flow and status": ({"flow_slug": "p_3", "status": "failed"}, "runs_by_flow_slug_status_started_at"),
    "flow and completed": ({"flow_slug": "p_3", "status": "completed"}, "runs_by_flow_slug_started_at"),
}


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", ()) for n in _nodes(child))]


@pytest.fixture(scope="module")
def runs_db(pg_server: Server, plain_template: str) -> Iterator[psycopg.Connection[Any]]:
    """One database with 50,000 runs for every case (read only)."""
    name = f"plans_{uuid.uuid4().hex[:12]}"
    with pg_server.janitor(name, template_dbname=plain_template), \
            psycopg.connect(pg_server.dsn(name), autocommit=True) as conn:
        _populate(conn)
        yield conn


def _populate(conn: psycopg.Connection[Any]) -> None:
    for i in range(8):
        conn.execute("select pgflow.create_flow(%s)", (f"p_{i}",))
    conn.execute(
        """
        insert into pgflow.runs (flow_slug, status, input, started_at, completed_at, failed_at)
        select 'p_' || (i %% 8), s.status, '{}', s.at,
               case when s.status = 'completed' then s.at end, case when s.status = 'failed' then s.at end
        from generate_series(1, 50000) as i
        cross join lateral (
            select %(now)s::timestamptz - interval '1 minute' * i as at,
                   case when i %% 50 = 7 then 'started' when i %% 25 = 3 then 'failed' else 'completed' end as status
        ) as s
        """, {"now": NOW})
    conn.execute("analyze pgflow.runs")


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("statement", ["UI_RUNS_OLDER", "UI_RUNS_NEWER"])
def test_each_filter_reads_an_index_in_order(runs_db: psycopg.Connection[Any], case: str, statement: str) -> None:
    """The first page (UI_RUNS_OLDER) reads the index made for its filters; the page before a cursor
    (UI_RUNS_NEWER) reads one of the runs_by_* indexes (the planner may prefer the wider one and
    filter, which is cheap reading forwards from a cursor)."""
    conn = runs_db
    filters, index = CASES[case]
    params = {"flow_slug": None, "status": None, "since": None, "until": None, "limit": 51,
              "cursor_started_at": None, "cursor_run_id": None, **filters}
    if statement == "UI_RUNS_NEWER":
        params |= CURSOR
    # planned with the values, as the dashboard's unprepared statements are
    with conn.cursor() as cur:
        cur.execute("explain (format json) " + getattr(queries, statement), params, prepare=False)
        plan = cur.fetchone()[0][0]["Plan"]  # type: ignore[index]
    nodes = _nodes(plan)
    scans = [n for n in nodes if n["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")]
    used = [n.get("Index Name") for n in scans]
    if statement == "UI_RUNS_OLDER":
        assert used == [index], json.dumps(plan, indent=1)
    else:
        assert len(used) == 1 and str(used[0]).startswith("runs_by_"), json.dumps(plan, indent=1)
    assert not any(n["Node Type"] == "Seq Scan" for n in nodes), json.dumps(plan)
    # a sort only of the few rows an index bounded (a bitmap scan of a handful), never of the table
    assert all(n["Plan Rows"] <= 1000 for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")), \
        json.dumps(plan)
