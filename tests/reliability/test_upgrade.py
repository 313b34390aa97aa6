"""Upgrading the schema with runs in flight loses nothing.

The test applies every migration but the last one (pgflow.migrator.migrate with a directory
holding only those files) to a fresh database, defines a flow and leaves runs in every state a
worker can leave them in: a task started (its handler "still running" in an old worker), tasks
queued and visible, a task queued behind a retry backoff, a map half done. It snapshots every
pgflow row and every queue message, applies the full migrations/ directory, and requires:

* the migrator applies exactly the remaining files, and a second migrate is a no-op;
* every row and message that existed before is still there, unchanged (compared on the columns
  the old schema had);
* the in-flight runs finish on the new schema: the old worker's callbacks for its started
  tasks are accepted, the rest is run through the SQL API, and every run ends with the
  completed-run invariants.

While migrations/ holds a single file (no release frozen yet) the "old" schema is that same
file, and the test asserts that migrating an in-flight database is a no-op that loses nothing;
it upgrades across a real release as soon as a second migration file exists.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgflow import migrator
from pgflow.pgmq_install import ensure_pgmq
from tests.support.faults import count
from tests.support.paths import ROOT
from tests.support.sql import (
    assert_run_completed_cleanly,
    complete_task,
    define_flow,
    drain_sql,
    fail_task,
    insert_worker,
    queue_rows,
    read_and_start,
    start_flow,
)

MIGRATIONS = ROOT / "migrations"
FLOW = "upg"


def _snapshot(conn: psycopg.Connection) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for t in ("flows", "steps", "deps", "runs", "step_states", "step_tasks", "workers"):
            rows = cur.execute(f"select to_jsonb(x) as j from pgflow.{t} as x").fetchall()
            out[t] = sorted((r["j"] for r in rows), key=lambda j: repr(sorted(j.items())))
    out["queue"] = sorted((dict(r) for r in queue_rows(conn, FLOW)), key=lambda j: repr(sorted(j.items())))
    return out


def _restrict(after: dict[str, list[dict[str, Any]]], before: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """`after`, keeping only the columns each table had before the upgrade."""
    out: dict[str, Any] = {}
    for t, rows in after.items():
        keys = set(before[t][0]) if before[t] else set()
        out[t] = sorted(({k: v for k, v in r.items() if k in keys} for r in rows),
                        key=lambda j: repr(sorted(j.items())))
    return out


def test_upgrade_with_runs_in_flight_loses_nothing(empty_db_dsn: str, tmp_path: Path) -> None:
    files = migrator.load_migrations(MIGRATIONS)
    old = files[:-1] if len(files) > 1 else files
    old_dir = tmp_path / "old_release"
    old_dir.mkdir()
    for m in old:
        shutil.copy(m.path, old_dir / m.path.name)

    with psycopg.connect(empty_db_dsn, autocommit=True) as conn:
        ensure_pgmq(conn, prefer_extension=False)
        applied = migrator.migrate(empty_db_dsn, directory=old_dir, install_pgmq=False)
        assert [m.version for m in applied] == [m.version for m in old]

        # runs in flight on the old schema
        define_flow(conn, FLOW, [{"slug": "a"}, {"slug": "m", "deps": ["a"], "step_type": "map"},
                                 {"slug": "z", "deps": ["m"]}], max_attempts=3, base_delay=1, timeout=60)
        wid = insert_worker(conn, FLOW)
        r1 = start_flow(conn, FLOW, {"n": 1})["run_id"]
        [_a] = read_and_start(conn, FLOW, wid)
        complete_task(conn, r1, "a", 0, [1, 2, 3])
        mine = read_and_start(conn, FLOW, wid, qty=2)  # two of m's three tasks
        complete_task(conn, r1, "m", mine[0]["task_index"], 10 * mine[0]["input"])
        r2 = start_flow(conn, FLOW, {"n": 2})["run_id"]
        r3 = start_flow(conn, FLOW, {"n": 3})["run_id"]
        started = read_and_start(conn, FLOW, wid, qty=10)  # r1's last m task, r2.a, r3.a
        r3a = next(t for t in started if t["run_id"] == r3)
        fail_task(conn, r3, "a", 0, "transient")  # queued behind a 2 s backoff
        in_flight = [(mine[1]["run_id"], "m", mine[1]["task_index"], 10 * mine[1]["input"])] + [
            (t["run_id"], t["step_slug"], t["task_index"], 10 * t["input"] if t["step_slug"] == "m" else [4, 5])
            for t in started if t is not r3a]
        before = _snapshot(conn)
        states = conn.execute("select status, count(*) from pgflow.step_tasks group by 1 order by 1").fetchall()
        assert {s for s, _ in states} == {"completed", "queued", "started"}, states

        # the upgrade
        applied = migrator.migrate(empty_db_dsn, directory=MIGRATIONS, install_pgmq=False)
        assert [m.version for m in applied] == [m.version for m in files[len(old):]]
        assert migrator.migrate(empty_db_dsn, directory=MIGRATIONS, install_pgmq=False) == []
        after = _snapshot(conn)
        assert _restrict(after, before) == before, "the upgrade changed or lost rows of runs in flight"

        # the old worker reports its in-flight tasks, then everything else runs on the new schema
        for run_id, step, idx, output in in_flight:
            assert len(complete_task(conn, run_id, step, idx, output)) == 1
        conn.execute(f"select pgmq.set_vt('{FLOW}', msg_id, 0) from pgmq.q_{FLOW}")  # skip the backoff wait
        drain_sql(conn, FLOW, lambda t: [4, 5] if t["step_slug"] == "a" else
                  10 * t["input"] if t["step_slug"] == "m" else "done")
        assert_run_completed_cleanly(conn, r1, {"a": 1, "m": 3, "z": 1})
        assert_run_completed_cleanly(conn, r2, {"a": 1, "m": 2, "z": 1})
        assert_run_completed_cleanly(conn, r3, {"a": 1, "m": 2, "z": 1})
        m1 = conn.execute("select output from pgflow.step_states where run_id = %s and step_slug = 'm'", (r1,))
        assert m1.fetchone() == ([10, 20, 30],)
    count("upgrade with runs in flight", migrations_before=len(old), migrations_applied=len(files) - len(old),
          runs_in_flight=3, tasks_in_flight=sum(1 for r in before["step_tasks"] if r["status"] != "completed"),
          rows_lost=0, messages_lost=0)
