"""The dashboard's runs list on 1,000,000 runs: the page queries timed as the dashboard sends them.

    .venv/bin/python -m tests.bench.ui_runs_list [--runs 1000000] [--dsn postgresql://...]

Without --dsn a throwaway server is started (pgflow.embedded) and migrated. Runs are inserted
straight into pgflow.runs (8 flows, started over 30 days; about 90% completed, 7% failed, 2% started; flow_7 never
fails),
then each page of the list (pgflow.ui.data.runs_page: the statements of pgflow.queries, planned
with their values like the dashboard's unprepared pool) is timed: median and max of 25 calls after
one warm-up, with the plan's top index named. A benchmark, not a test: it prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from pgflow import migrator, queries
from pgflow.embedded import EmbeddedPostgres
from pgflow.ui import data

FLOWS = [f"flow_{i}" for i in range(8)]
REPEAT = 25


def populate(dsn: str, runs: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        have = conn.execute("select count(*) from pgflow.runs").fetchone()[0]  # type: ignore[index]
        if have >= runs:
            return
        for slug in FLOWS:
            conn.execute("select pgflow.create_flow(%s)", (slug,))
            conn.execute("select pgflow.add_step(%s, 'only')", (slug,))
        t0 = time.perf_counter()
        chunk = 100_000
        for lo in range(0, runs, chunk):
            conn.execute(
                """
                insert into pgflow.runs (flow_slug, status, input, output, remaining_steps, started_at,
                                         completed_at, failed_at)
                select 'flow_' || (i %% 8), s.status, jsonb_build_object('i', i),
                       case when s.status = 'completed' then '{"ok": true}'::jsonb end,
                       case when s.status = 'started' then 1 else 0 end, s.at,
                       case when s.status = 'completed' then s.at + interval '2 seconds' end,
                       case when s.status = 'failed' then s.at + interval '1 second' end
                from generate_series(%(lo)s, %(hi)s) as i
                cross join lateral (
                    select now() - interval '30 days' * (1 - i::float8 / %(n)s) as at,
                           case when i %% 50 = 7 then 'started'
                                when i %% 25 in (3, 11) and i %% 8 <> 7 then 'failed'
                                else 'completed' end as status
                ) as s
                """,
                {"lo": lo, "hi": min(lo + chunk, runs) - 1, "n": runs},
            )
        conn.execute("analyze pgflow.runs")
        print(f"inserted {runs:,} runs in {time.perf_counter() - t0:.1f} s")


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    await fn()
    samples = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


async def plan_index(conn: psycopg.AsyncConnection[Any], f: data.RunFilters, cursor: data.Cursor | None) -> str:
    params = {"flow_slug": f.flow_slug, "status": f.status, "since": f.since, "until": f.until, "limit": 51,
              "cursor_started_at": cursor.started_at if cursor else None,
              "cursor_run_id": cursor.run_id if cursor else None}
    cur = await conn.execute("explain (format json) " + queries.UI_RUNS_OLDER, params)
    plan = (await cur.fetchone())[0][0]["Plan"]  # type: ignore[index]
    while "Index Name" not in plan and plan.get("Plans"):
        plan = plan["Plans"][0]
    return f"{plan['Node Type']} on {plan.get('Index Name', plan.get('Relation Name', '?'))}"


async def measure(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        row = await (await conn.execute("select max(started_at) from pgflow.runs")).fetchone()
        newest: dt.datetime = row[0]  # type: ignore[index]
        mid = await data.runs_page(conn, data.RunFilters(since=newest - dt.timedelta(days=15)), limit=1)
        deep = data.Cursor.of(mid.rows[-1])
        cases: list[tuple[str, data.RunFilters, data.Cursor | None]] = [
            ("newest 50, no filter", data.RunFilters(), None),
            ("page 10,000 deep (cursor mid-table)", data.RunFilters(), deep),
            ("one flow", data.RunFilters(flow_slug="flow_3"), None),
            ("status completed (90%)", data.RunFilters(status="completed"), None),
            ("one flow + completed, deep", data.RunFilters(flow_slug="flow_2", status="completed"), deep),
            ("status failed (7%)", data.RunFilters(status="failed"), None),
            ("status started (2%), deep", data.RunFilters(status="started"), deep),
            ("one flow + failed", data.RunFilters(flow_slug="flow_3", status="failed"), None),
            ("a flow that never failed + failed", data.RunFilters(flow_slug="flow_7", status="failed"), None),
            ("one flow + started, deep", data.RunFilters(flow_slug="flow_5", status="started"), deep),
            ("time range (1 day, 15 days ago)", data.RunFilters(since=newest - dt.timedelta(days=16),
                                                                until=newest - dt.timedelta(days=15)), None),
            ("flow + failed + time range", data.RunFilters(flow_slug="flow_1", status="failed",
                                                           since=newest - dt.timedelta(days=20),
                                                           until=newest - dt.timedelta(days=19)), None),
        ]
        count = await (await conn.execute("select count(*) from pgflow.runs")).fetchone()
        print(f"\nruns list on {count[0]:,} runs, ms per page of 50 (median / max of {REPEAT})")  # type: ignore[index]
        print(f"{'case':<38} {'median':>8} {'max':>8}  plan")
        for name, f, cursor in cases:
            med, worst = await timed(lambda f=f, cursor=cursor: data.runs_page(conn, f, after=cursor))
            print(f"{name:<38} {med:8.2f} {worst:8.2f}  {await plan_index(conn, f, cursor)}")
        run_id = mid.rows[0].run_id
        med, worst = await timed(lambda: data.run_view(conn, run_id))
        print(f"{'a run page (1 step)':<38} {med:8.2f} {worst:8.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1_000_000)
    p.add_argument("--dsn")
    args = p.parse_args()
    if args.dsn:
        populate(args.dsn, args.runs)
        asyncio.run(measure(args.dsn))
        return
    with EmbeddedPostgres() as pg:
        migrator.migrate(pg.dsn)
        populate(pg.dsn, args.runs)
        asyncio.run(measure(pg.dsn))


if __name__ == "__main__":
    main()
