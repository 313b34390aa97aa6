"""A schedule and the life of its flow, across commits: recompiling a changed flow
(ensure_flow_compiled deletes and recreates it in one transaction) keeps the schedule, while
deleting the flow for good is refused at commit as long as a schedule names it."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.types.json import Jsonb

SHAPE_ONE = {"steps": [{"slug": "a", "stepType": "single", "dependencies": []}]}
SHAPE_TWO = {"steps": [
    {"slug": "a", "stepType": "single", "dependencies": []},
    {"slug": "b", "stepType": "single", "dependencies": ["a"]},
]}


def test_recompiling_a_flow_keeps_its_schedule(conn: psycopg.Connection) -> None:
    compile_flow = "select pgflow.ensure_flow_compiled('lc_flow', %s, allow_data_loss => true) ->> 'status'"
    assert conn.execute(compile_flow, (Jsonb(SHAPE_ONE),)).fetchone() == ("compiled",)
    conn.execute("select pgflow.create_schedule('lc_s', 'lc_flow', '* * * * *', start_after => %s)",
                 (datetime(2030, 1, 1, tzinfo=UTC),))
    assert conn.execute("select count(*) from pgflow.tick_schedules(%s)",
                        (datetime(2030, 1, 1, 0, 1, tzinfo=UTC),)).fetchone() == (1,)
    assert conn.execute(compile_flow, (Jsonb(SHAPE_TWO),)).fetchone() == ("recompiled",)  # committed
    assert conn.execute("select flow_slug from pgflow.schedules where schedule_slug = 'lc_s'").fetchone() == (
        "lc_flow",
    )
    rows = conn.execute("select scheduled_for from pgflow.tick_schedules(%s)",
                        (datetime(2030, 1, 1, 0, 2, tzinfo=UTC),)).fetchall()
    assert rows == [(datetime(2030, 1, 1, 0, 2, tzinfo=UTC),)], "the recompiled flow is still scheduled"


def test_deleting_a_scheduled_flow_for_good_is_refused_until_the_schedule_goes(conn: psycopg.Connection) -> None:
    conn.execute("select pgflow.create_flow('lc_gone')")
    conn.execute("select pgflow.create_schedule('lc_gone_s', 'lc_gone', '@daily')")
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="schedules_flow_slug_fkey"):
        conn.execute("select pgflow.delete_flow_and_data('lc_gone')")
    assert conn.execute("select count(*) from pgflow.flows where flow_slug = 'lc_gone'").fetchone() == (1,)
    conn.execute("select pgflow.delete_schedule('lc_gone_s')")
    conn.execute("select pgflow.delete_flow_and_data('lc_gone')")
    assert conn.execute("select count(*) from pgflow.flows where flow_slug = 'lc_gone'").fetchone() == (0,)
