"""Scenario 7: does throughput hold up as finished runs accumulate? Scenarios 1 (K = the largest)
and 2 are run, interleaved, on two databases of the same server: one empty, one holding a history
of ``--history`` (1,000,000) finished single-step runs (a run, its step state and its task, all
completed, and the task's message in the flow's pgmq archive), loaded by direct writes and then
vacuumed and analyzed as autovacuum would leave them. Each figure is given as history / empty.
"""

from __future__ import annotations

import sys
from typing import Any

import psycopg
from psycopg import conninfo, sql

from bench.flows import build_flow

HISTORY_FLOW = "bench_history"
CHUNK = 100_000


def history_dsn(dsn: str) -> str:
    """The history database's DSN: the given one's, database name + ``_history``."""
    name = conninfo.conninfo_to_dict(dsn).get("dbname") or "postgres"
    return conninfo.make_conninfo(dsn, dbname=f"{name}_history")


def create_history_database(dsn: str, tasks: int) -> str:
    """A fresh database next to `dsn`'s, migrated, holding `tasks` finished single-step runs."""
    from pgflow import migrator

    target = history_dsn(dsn)
    name = sql.Identifier(str(conninfo.conninfo_to_dict(target)["dbname"]))
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {}").format(name))
        admin.execute(sql.SQL("create database {}").format(name))
    migrator.migrate(target)
    with psycopg.connect(target, autocommit=True) as conn:
        load_history(conn, tasks)
    return target


def load_history(conn: psycopg.Connection[Any], tasks: int) -> None:
    """`tasks` completed single-step runs of flow bench_history, written directly (the foreign-key
    triggers are off while loading: every row written references rows written just before)."""
    for stmt in build_flow("single", HISTORY_FLOW).compile():
        conn.execute(stmt.encode())
    archive = sql.Identifier("pgmq", "a_" + HISTORY_FLOW)
    conn.execute("set session_replication_role = replica")
    done = 0
    while done < tasks:
        n = min(CHUNK, tasks - done)
        with conn.transaction():
            conn.execute(
                """
                create temporary table h on commit drop as
                select
                    gen_random_uuid() as run_id,
                    %(offset)s + i as msg_id,
                    now() - make_interval(secs => (%(total)s - %(offset)s - i) * 0.01 + 1) as t0
                from generate_series(1, %(n)s) as i
                """,
                {"n": n, "offset": done, "total": tasks},
            )
            conn.execute(
                """
                insert into pgflow.runs (run_id, flow_slug, status, input, output, remaining_steps, started_at,
                    completed_at)
                select h.run_id, %(f)s, 'completed', '{}', '{"only": 1}', 0, h.t0, h.t0 + interval '5 ms'
                from h
                """,
                {"f": HISTORY_FLOW},
            )
            conn.execute(
                """
                insert into pgflow.step_states (flow_slug, run_id, step_slug, status, remaining_tasks, initial_tasks,
                    remaining_deps, output, created_at, started_at, completed_at)
                select %(f)s, h.run_id, 'only', 'completed', 0, 1, 0, '1', h.t0, h.t0, h.t0 + interval '5 ms'
                from h
                """,
                {"f": HISTORY_FLOW},
            )
            conn.execute(
                """
                insert into pgflow.step_tasks (flow_slug, run_id, step_slug, message_id, task_index, status,
                    attempts_count, output, queued_at, started_at, completed_at)
                select %(f)s, h.run_id, 'only', h.msg_id, 0, 'completed', 1, '1', h.t0, h.t0 + interval '1 ms',
                    h.t0 + interval '5 ms'
                from h
                """,
                {"f": HISTORY_FLOW},
            )
            conn.execute(
                sql.SQL(
                    "insert into {} (msg_id, read_ct, enqueued_at, archived_at, vt, message) "
                    "select h.msg_id, 1, h.t0, h.t0 + interval '5 ms', h.t0 + interval '32 s', "
                    "jsonb_build_object('flow_slug', {}::text, 'run_id', h.run_id, 'step_slug', 'only', "
                    "'task_index', 0) from h"
                ).format(archive, sql.Literal(HISTORY_FLOW))
            )
        done += n
        print(f"[7] history: {done:,} of {tasks:,} finished tasks loaded", file=sys.stderr, flush=True)
    conn.execute("set session_replication_role = origin")
    conn.execute("vacuum analyze pgflow.runs, pgflow.step_states, pgflow.step_tasks")
    conn.execute(sql.SQL("vacuum analyze {}").format(archive))
