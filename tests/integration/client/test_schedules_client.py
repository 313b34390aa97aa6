"""The SQL client's schedule methods against a real database: create, list, update, pause,
resume, delete, tick, cron_next; the create-or-update a compiled flow's schedule goes through (the
client's ensure_schedule and the DSL's compiled SQL), and the errors they raise."""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from pgflow.client import AsyncPgflowSqlClient, PgflowSqlClient
from pgflow.dsl import Flow
from pgflow.errors import FlowNotFound, InvalidSchedule, ScheduleNotFound
from pgflow.schedules import check_cron
from tests.support.paths import ROOT
from tests.support.waiting import wait_until

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _flow(conn: psycopg.Connection[Any], slug: str = "sc_flow") -> None:
    conn.execute("select pgflow.create_flow(%s)", (slug,))
    conn.execute("select pgflow.add_step(%s, 'only')", (slug,))


def test_create_list_pause_resume_update_delete(conn: psycopg.Connection[Any]) -> None:
    _flow(conn)
    client = PgflowSqlClient(conn)
    made = client.create_schedule("sc_every", "sc_flow", "*/15 * * * *", {"k": 1}, timezone="Europe/Paris",
                                  overlap_policy="skip", catchup_policy="all", catchup_window="2 hours",
                                  start_after=T0)
    assert (made.schedule_slug, made.flow_slug, made.cron, made.timezone, made.input) == (
        "sc_every", "sc_flow", "*/15 * * * *", "Europe/Paris", {"k": 1})
    assert (made.overlap_policy, made.catchup_policy, made.catchup_window) == ("skip", "all", timedelta(hours=2))
    assert made.enabled and made.next_scheduled_start_time == T0 + timedelta(minutes=15)
    assert made.last_run_id is None and made.last_scheduled_for is None

    assert [s.schedule_slug for s in client.list_schedules()] == ["sc_every"]
    assert client.list_schedules(flow_slug="other") == []

    assert not client.pause_schedule("sc_every").enabled
    assert client.tick_schedules(T0 + timedelta(hours=1)) == [], "a paused schedule starts nothing"
    resumed = client.resume_schedule("sc_every")
    assert resumed.enabled and resumed.next_scheduled_start_time > datetime.now(UTC)

    changed = client.update_schedule("sc_every", cron="0 9 * * *", input={"k": 2})
    assert (changed.cron, changed.input, changed.timezone) == ("0 9 * * *", {"k": 2}, "Europe/Paris")
    assert changed.next_scheduled_start_time.astimezone(UTC).minute == 0

    gone = client.delete_schedule("sc_every")
    assert gone.schedule_slug == "sc_every" and client.list_schedules() == []
    with pytest.raises(ScheduleNotFound, match='schedule "sc_every" does not exist'):
        client.pause_schedule("sc_every")


def test_tick_schedules_returns_the_runs_it_started(conn: psycopg.Connection[Any]) -> None:
    _flow(conn)
    client = PgflowSqlClient(conn)
    client.create_schedule("sc_minutely", "sc_flow", "* * * * *", {"topic": "x"}, start_after=T0)
    started = client.tick_schedules(T0 + timedelta(minutes=1, seconds=30))
    assert [(r.schedule_slug, r.scheduled_for) for r in started] == [("sc_minutely", T0 + timedelta(minutes=1))]
    run_input = conn.execute("select input from pgflow.runs where run_id = %s", (started[0].run_id,)).fetchone()
    assert run_input == ({"topic": "x", "scheduled_for": "2030-01-01T00:01:00Z"},)
    assert client.tick_schedules(T0 + timedelta(minutes=1, seconds=31)) == []
    assert client.list_schedules()[0].last_run_id == started[0].run_id
    assert client.tick_schedules() == [], "at the database's clock nothing of 2030 is due"


def test_cron_next_gives_the_coming_times_in_the_zone(conn: psycopg.Connection[Any]) -> None:
    client = PgflowSqlClient(conn)
    # 2030-03-31: Paris springs forward at 02:00 -> 03:00; a 02:30 job fires at the change
    times = client.cron_next("30 2 * * *", datetime(2030, 3, 29, tzinfo=UTC), "Europe/Paris", count=3)
    assert times == [datetime(2030, 3, 29, 1, 30, tzinfo=UTC), datetime(2030, 3, 30, 1, 30, tzinfo=UTC),
                     datetime(2030, 3, 31, 1, 0, tzinfo=UTC)]
    assert len(client.cron_next("@hourly")) == 1
    with pytest.raises(ValueError, match="count must be at least 1"):
        client.cron_next("@hourly", count=0)


def test_errors_name_what_was_wrong_and_write_nothing(conn: psycopg.Connection[Any]) -> None:
    _flow(conn)
    client = PgflowSqlClient(conn)
    with pytest.raises(InvalidSchedule, match=r'hour field "24": 24 is out of range 0-23'):
        client.create_schedule("sc_bad", "sc_flow", "0 24 * * *")
    with pytest.raises(InvalidSchedule, match='unknown time zone "Mars/Olympus"'):
        client.create_schedule("sc_bad", "sc_flow", "0 1 * * *", timezone="Mars/Olympus")
    with pytest.raises(FlowNotFound, match='flow "nope" does not exist'):
        client.create_schedule("sc_bad", "nope", "0 1 * * *")
    with pytest.raises(InvalidSchedule, match="input of schedule 'sc_bad' is not JSON-serialisable"):
        client.create_schedule("sc_bad", "sc_flow", "0 1 * * *", {"when": datetime.now(UTC)})
    with pytest.raises(InvalidSchedule, match="overlap_policy must be 'allow' or 'skip'"):
        client.create_schedule("sc_bad", "sc_flow", "0 1 * * *", overlap_policy="never")
    with pytest.raises(InvalidSchedule, match="day-of-week field"):
        client.cron_next("0 0 * * funday")
    assert client.list_schedules() == []
    client.create_schedule("sc_taken", "sc_flow", "0 1 * * *")
    with pytest.raises(InvalidSchedule, match='schedule "sc_taken" already exists'):
        client.create_schedule("sc_taken", "sc_flow", "0 2 * * *")
    with pytest.raises(ScheduleNotFound):
        client.update_schedule("sc_missing", cron="0 1 * * *")


def test_ensure_schedule_creates_then_updates_and_keeps_a_pause(conn: psycopg.Connection[Any]) -> None:
    _flow(conn)
    client = PgflowSqlClient(conn)
    first = client.ensure_schedule("sc_ensured", "sc_flow", "0 6 * * *")
    again = client.ensure_schedule("sc_ensured", "sc_flow", "0 6 * * *")
    assert again.next_scheduled_start_time == first.next_scheduled_start_time and again.created_at == first.created_at
    client.pause_schedule("sc_ensured")
    changed = client.ensure_schedule("sc_ensured", "sc_flow", "0 7 * * *", {"v": 2}, overlap_policy="skip")
    assert (changed.cron, changed.input, changed.overlap_policy, changed.enabled) == ("0 7 * * *", {"v": 2}, "skip",
                                                                                      False)


def test_ensure_schedule_from_two_sessions_at_once_creates_it_once(db_dsn: str, conn: psycopg.Connection[Any]) -> None:
    _flow(conn)
    # one session holds the slug's lock in an open transaction; a second ensure_schedule waits on
    # it (pg_locks shows the wait), then takes the update branch once the first commits
    holder = psycopg.connect(db_dsn)
    try:
        holder.execute("select 1")  # an open transaction: the client's own becomes a savepoint in it
        PgflowSqlClient(holder).ensure_schedule("sc_race", "sc_flow", "0 6 * * *")
        errors: list[BaseException] = []

        def second() -> None:
            try:
                with psycopg.connect(db_dsn, autocommit=True) as c:
                    PgflowSqlClient(c).ensure_schedule("sc_race", "sc_flow", "0 8 * * *")
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=second)
        t.start()
        wait_until("the second ensure_schedule waiting on the advisory lock", lambda: conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and not granted").fetchone() == (1,))
        holder.commit()
        t.join(30)
    finally:
        holder.close()
    assert not errors, errors
    assert [(s.schedule_slug, s.cron) for s in PgflowSqlClient(conn).list_schedules()] == [("sc_race", "0 8 * * *")]


def test_compiled_schedule_sql_is_idempotent_and_keeps_a_pause(conn: psycopg.Connection[Any]) -> None:
    flow = Flow("sc_dsl", schedule="*/5 * * * *")
    flow.schedule("0 9 * * mon-fri", slug="sc_dsl_morning", input={"note": "it's"}, timezone="America/New_York",
                  catchup_window=timedelta(hours=3))

    @flow.step("only")
    def only(inp: Any) -> Any:
        return inp

    for statement in flow.compile():
        conn.execute(statement.encode())
    client = PgflowSqlClient(conn)
    before = {s.schedule_slug: s for s in client.list_schedules()}
    assert set(before) == {"sc_dsl", "sc_dsl_morning"}
    morning = before["sc_dsl_morning"]
    assert (morning.input, morning.timezone, morning.catchup_window) == ({"note": "it's"}, "America/New_York",
                                                                         timedelta(hours=3))
    client.pause_schedule("sc_dsl")
    for statement in flow.compile():  # a second migration or compile: nothing changes
        conn.execute(statement.encode())
    after = {s.schedule_slug: s for s in client.list_schedules()}
    assert not after["sc_dsl"].enabled
    assert after["sc_dsl_morning"].next_scheduled_start_time == morning.next_scheduled_start_time


@pytest.mark.parametrize("cron", [
    "0 24 * * *", "60 * * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "* * * foo *", "* * * * funday",
    "*/0 * * * *", "1-2-3 * * * *", "1,,2 * * * *", "a/5 * * * *", "* * *", "* * * * * *", "", "   ",
    "@sometimes", "? * * * *", "0 ? * * *", "* * * ? *", "5-/2 * * * *", "L * * * *", "0 0 L * *", "0 0 * * 5#3",
])
def test_python_checks_give_the_database_message(conn: psycopg.Connection[Any], cron: str) -> None:
    with pytest.raises(psycopg.errors.RaiseException) as from_sql:
        conn.execute("select pgflow.cron_next(%s, now())", (cron,))
    with pytest.raises(InvalidSchedule) as from_python:
        check_cron(cron)
    assert str(from_python.value) == from_sql.value.diag.message_primary


@pytest.mark.parametrize("cron", ["*/15 9-17 * * mon-fri", "@daily", "0 0 29 2 *", "5/15 * ? * 7", "0 0 1-31/2 * *",
                                  "30 2 * jan-mar,oct sun", "50-10 * * * fri-mon"])
def test_python_accepts_what_the_database_accepts(conn: psycopg.Connection[Any], cron: str) -> None:
    conn.execute("select pgflow.cron_next(%s, now())", (cron,))
    assert check_cron(cron) == cron


async def test_async_client_creates_and_ticks(db_dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as aconn:
        await aconn.execute("select pgflow.create_flow('sc_async')")
        await aconn.execute("select pgflow.add_step('sc_async', 'only')")
        client = AsyncPgflowSqlClient(aconn)
        await client.create_schedule("sc_async_hourly", "sc_async", "@hourly", start_after=T0)
        started = await client.tick_schedules(T0 + timedelta(hours=1))
        assert [r.scheduled_for for r in started] == [T0 + timedelta(hours=1)]
        assert await asyncio.wait_for(client.cron_next("@daily", T0, count=2), 10) == [
            T0 + timedelta(days=1), T0 + timedelta(days=2)]


def test_the_readme_python_schedules_define_and_compile(conn: psycopg.Connection[Any]) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Schedules\n.*?```python\n(.*?)```", text, re.S)
    assert block, "the README lost its Python schedules example"
    scope: dict[str, Any] = {"Flow": Flow}
    exec(block.group(1), scope)
    flow: Flow = scope["flow"]

    @flow.step("fetch")
    def fetch(inp: Any) -> Any:
        return inp

    for statement in flow.compile():
        conn.execute(statement.encode())
    rows = {s.schedule_slug: s for s in PgflowSqlClient(conn).list_schedules(flow_slug="article_digest")}
    assert set(rows) == {"article_digest", "nightly_digest"}
    assert (rows["nightly_digest"].timezone, rows["nightly_digest"].overlap_policy) == ("Europe/Paris", "skip")
