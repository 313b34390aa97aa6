"""The README's Schedules SQL runs as written, on the pg_cron server (it ends with
setup_schedules_cron), against a stand-in `article_digest` flow."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]


def test_readme_schedules_sql_runs(pg_cron_dsn: str) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Schedules\n.*?```sql\n(.*?)```", text, re.S)
    assert block, "the README lost its Schedules SQL example"
    with psycopg.connect(pg_cron_dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('article_digest')")
        conn.execute("select pgflow.add_step('article_digest', 'fetch')")
        for statement in (s.strip() for s in re.sub(r"--[^\n]*", "", block.group(1)).split(";")):
            if statement:
                conn.execute(statement.encode())
        assert conn.execute(
            "select count(*) from pgflow.schedules where schedule_slug = 'nightly_digest'"
        ).fetchone() == (0,), "the example ends by deleting its schedule"
        assert conn.execute(
            "select command from cron.job where jobname = 'pgflow_tick_schedules'"
        ).fetchone() == ("select pgflow.tick_schedules()",)
        conn.execute("select cron.unschedule('pgflow_tick_schedules')")
