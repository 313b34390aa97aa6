"""tick_schedules from several sessions at once, on a simulated clock: every scheduled time starts
exactly once, a ticker never waits for another (FOR UPDATE SKIP LOCKED), and the catch-up and
overlap policies after downtime. Each test has its own migrated database (tests/conftest.py).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pgflow import queries

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _flow_and_schedule(conn: psycopg.Connection, **options: object) -> None:
    conn.execute("select pgflow.create_flow('sched_flow')")
    conn.execute("select pgflow.add_step('sched_flow', 'only')")
    params: dict[str, object] = {
        "schedule_slug": "every_minute", "flow_slug": "sched_flow", "cron": "*/1 * * * *", "input": Jsonb({}),
        "timezone": "UTC", "overlap_policy": "allow", "catchup_policy": "latest",
        "catchup_window": timedelta(days=1), "enabled": True, "start_after": T0,
    }
    conn.execute(queries.CREATE_SCHEDULE, params | options)


def _scheduled_times(conn: psycopg.Connection) -> list[datetime]:
    return [r[0] for r in conn.execute(
        "select sr.scheduled_for from pgflow.schedule_runs as sr inner join pgflow.runs as r on r.run_id = sr.run_id "
        "where sr.schedule_slug = 'every_minute' order by 1"
    )]


def test_two_sessions_ticking_three_minutes_start_exactly_three_runs(db_dsn: str, conn: psycopg.Connection) -> None:
    _flow_and_schedule(conn)
    # both tickers see the same simulated instants, every 5 s over 3 minutes, and tick them together
    instants = [T0 + timedelta(seconds=s) for s in range(5, 181, 5)]
    barrier = threading.Barrier(2, timeout=30)
    started: dict[str, list[tuple[str, object, datetime]]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def ticker(name: str) -> None:
        try:
            with psycopg.connect(db_dsn, autocommit=True) as c:
                c.execute("set statement_timeout = '20s'")  # a ticker that waited would fail, not hang
                for at in instants:
                    barrier.wait()
                    started[name] += c.execute(queries.TICK_SCHEDULES, {"now": at}).fetchall()
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=ticker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    rows = started["a"] + started["b"]
    assert sorted(r[2] for r in rows) == [T0 + timedelta(minutes=m) for m in (1, 2, 3)]
    assert _scheduled_times(conn) == [T0 + timedelta(minutes=m) for m in (1, 2, 3)]
    assert conn.execute("select count(*) from pgflow.runs").fetchone() == (3,)


def test_a_ticker_skips_a_schedule_another_session_holds_instead_of_waiting(
    db_dsn: str, conn: psycopg.Connection
) -> None:
    _flow_and_schedule(conn)
    at = T0 + timedelta(minutes=1)
    with psycopg.connect(db_dsn) as holder, psycopg.connect(db_dsn, autocommit=True) as other:
        first = holder.execute(queries.TICK_SCHEDULES, {"now": at}).fetchall()  # transaction left open
        assert [r[2] for r in first] == [at]
        other.execute("set statement_timeout = '10s'")
        assert other.execute(queries.TICK_SCHEDULES, {"now": at}).fetchall() == [], "the held schedule is skipped"
        holder.commit()
        assert other.execute(queries.TICK_SCHEDULES, {"now": at}).fetchall() == [], "and is already advanced"
    assert _scheduled_times(conn) == [at]


@pytest.mark.parametrize(("policy", "expected"), [("latest", 1), ("all", 10)])
def test_after_a_ten_minute_outage(conn: psycopg.Connection, policy: str, expected: int) -> None:
    _flow_and_schedule(conn, catchup_policy=policy)
    conn.execute(queries.TICK_SCHEDULES, {"now": T0 + timedelta(minutes=1)})  # the last tick before the outage
    rows = conn.execute(queries.TICK_SCHEDULES, {"now": T0 + timedelta(minutes=11, seconds=20)}).fetchall()
    assert len(rows) == expected
    missed = [T0 + timedelta(minutes=m) for m in range(2, 12)]
    assert [r[2] for r in rows] == (missed[-1:] if policy == "latest" else missed)
    assert conn.execute(
        "select s.next_scheduled_start_time from pgflow.schedules as s where s.schedule_slug = 'every_minute'"
    ).fetchone() == (T0 + timedelta(minutes=12),)


def test_skip_overlap_starts_nothing_while_the_previous_run_is_started(conn: psycopg.Connection) -> None:
    _flow_and_schedule(conn, overlap_policy="skip")
    first = conn.execute(queries.TICK_SCHEDULES, {"now": T0 + timedelta(minutes=1)}).fetchall()
    assert len(first) == 1
    for minute in (2, 3, 4):
        assert conn.execute(queries.TICK_SCHEDULES, {"now": T0 + timedelta(minutes=minute)}).fetchall() == []
    # the run finishes through the real API: its one task read, started and completed
    run_id = first[0][1]
    msg = conn.execute("select msg_id from pgmq.read('sched_flow', 30, 1)").fetchone()
    assert msg is not None
    conn.execute("insert into pgflow.workers (worker_id, queue_name, function_name) "
                 "values ('00000000-0000-0000-0000-0000000000aa', 'sched_flow', 'test')")
    conn.execute("select * from pgflow.start_tasks('sched_flow', array[%s]::bigint[], "
                 "'00000000-0000-0000-0000-0000000000aa')", (msg[0],))
    conn.execute("select * from pgflow.complete_task(%s, 'only', 0, '1'::jsonb)", (run_id,))
    assert conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone() == ("completed",)
    rows = conn.execute(queries.TICK_SCHEDULES, {"now": T0 + timedelta(minutes=5)}).fetchall()
    assert [r[2] for r in rows] == [T0 + timedelta(minutes=5)]


def test_cron_next_times_lists_the_coming_times(conn: psycopg.Connection) -> None:
    rows = conn.execute(queries.CRON_NEXT_TIMES, {
        "cron": "0 9 * * mon-fri", "after": T0, "timezone": "Europe/Paris", "count": 3,
    }).fetchall()
    assert [r[0] for r in rows] == [datetime(2030, 1, d, 8, tzinfo=UTC) for d in (1, 2, 3)]
