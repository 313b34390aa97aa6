"""The SQL API driven the way a worker drives it, row factories, and readers of the queue and
state tables, for tests that play the worker by hand; plus the end-of-run invariants.

Rows come back as dicts (named, not positional) unless a helper says otherwise.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb


def one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    """The first column of the first row of ``query`` (None when there is no row)."""
    row = conn.execute(query.encode(), params).fetchone()
    return None if row is None else row[0]


# ------------------------------------------------------------------------------------------
# SQL API, driven like a worker
# ------------------------------------------------------------------------------------------


def define_flow(
    conn: psycopg.Connection, slug: str, steps: Sequence[dict[str, Any]], **flow_opts: Any
) -> None:
    """create_flow + add_step through named SQL arguments. Each step is a dict of add_step
    arguments: {"slug": ..., "deps": [...], "step_type": "map", "max_attempts": 1, ...}."""
    conn.execute(
        "select pgflow.create_flow(flow_slug => %(f)s, max_attempts => %(a)s, base_delay => %(b)s, timeout => %(t)s)",
        {"f": slug, "a": flow_opts.get("max_attempts"), "b": flow_opts.get("base_delay"),
         "t": flow_opts.get("timeout")},
    )
    for s in steps:
        args = {k: v for k, v in s.items() if k not in ("slug", "deps")}
        names = ", ".join(f"{k} => %({k})s" for k in args)
        for k in ("required_input_pattern", "forbidden_input_pattern"):
            if args.get(k) is not None:
                args[k] = Jsonb(args[k])
        conn.execute(
            f"select pgflow.add_step(flow_slug => %(flow)s, step_slug => %(step)s, deps_slugs => %(deps)s"
            f"{', ' + names if names else ''})",
            {"flow": slug, "step": s["slug"], "deps": list(s.get("deps", ())), **args},
        )


def insert_worker(
    conn: psycopg.Connection, queue_name: str, worker_id: uuid.UUID | str | None = None, *,
    function_name: str = "tests",
) -> uuid.UUID:
    """A ``pgflow.workers`` row, as a worker registers itself before start_tasks (which refuses an
    unknown worker). A random id unless one is given; an existing row with that id is kept."""
    wid = uuid.UUID(str(worker_id)) if worker_id is not None else uuid.uuid4()
    conn.execute(
        "insert into pgflow.workers (worker_id, queue_name, function_name) "
        "values (%(worker_id)s, %(queue_name)s, %(function_name)s) on conflict (worker_id) do nothing",
        {"worker_id": wid, "queue_name": queue_name, "function_name": function_name},
    )
    return wid


def start_flow(conn: psycopg.Connection, flow_slug: str, input: Any, run_id: uuid.UUID | None = None) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "select * from pgflow.start_flow(flow_slug => %s, input => %s, run_id => %s)",
            (flow_slug, Jsonb(input), run_id),
        ).fetchone()
    assert row is not None
    return row


def read_and_start(
    conn: psycopg.Connection, flow_slug: str, worker_id: uuid.UUID | str, *, qty: int = 1000, vt: int = 30
) -> list[dict[str, Any]]:
    """pgmq.read every visible message (up to qty) and start_tasks them, as one worker poll."""
    ids = [r[0] for r in conn.execute("select msg_id from pgmq.read(%s, %s, %s)", (flow_slug, vt, qty))]
    if not ids:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select * from pgflow.start_tasks(flow_slug => %s, msg_ids => %s::bigint[], worker_id => %s)",
            (flow_slug, ids, worker_id),
        ).fetchall()


def complete_task(conn: psycopg.Connection, run_id: Any, step_slug: str, task_index: int, output: Any) -> list[Any]:
    return conn.execute(
        "select * from pgflow.complete_task(run_id => %s, step_slug => %s, task_index => %s, output => %s)",
        (run_id, step_slug, task_index, None if output is None else Jsonb(output)),
    ).fetchall()


def fail_task(conn: psycopg.Connection, run_id: Any, step_slug: str, task_index: int, error: str) -> list[Any]:
    return conn.execute(
        "select * from pgflow.fail_task(run_id => %s, step_slug => %s, task_index => %s, error_message => %s)",
        (run_id, step_slug, task_index, error),
    ).fetchall()


def drain_sql(conn: psycopg.Connection, flow_slug: str, handler: Callable[[dict[str, Any]], Any],
              *, timeout: float = 60.0) -> int:
    """Run every task of the flow to completion through the SQL API (single-threaded worker).
    Returns the number of tasks handled. Stops when the queue has no message at all."""
    wid = insert_worker(conn, flow_slug, function_name="reliability_tests")
    done = 0
    deadline = time.monotonic() + timeout
    while queue_size(conn, flow_slug) and time.monotonic() < deadline:
        for t in read_and_start(conn, flow_slug, wid):
            complete_task(conn, t["run_id"], t["step_slug"], t["task_index"], handler(t))
            done += 1
    assert queue_size(conn, flow_slug) == 0, "queue not drained before the deadline"
    return done


# ------------------------------------------------------------------------------------------
# Reading state directly
# ------------------------------------------------------------------------------------------


def queue_table(flow_slug: str) -> sql.Composed:
    return sql.SQL("pgmq.{}").format(sql.Identifier("q_" + flow_slug.lower()))


def queue_rows(conn: psycopg.Connection, flow_slug: str, run_id: Any | None = None) -> list[dict[str, Any]]:
    """Rows of pgmq.q_<flow> (visible or not), optionally only the run's messages."""
    q = sql.SQL("select msg_id, read_ct, vt, message from {} "
                "where %(r)s::text is null or message->>'run_id' = %(r)s::text "
                "order by msg_id").format(queue_table(flow_slug))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(q, {"r": None if run_id is None else str(run_id)}).fetchall()


def queue_size(conn: psycopg.Connection, flow_slug: str) -> int:
    return int(conn.execute(sql.SQL("select count(*) from {}").format(queue_table(flow_slug))).fetchone()[0])  # type: ignore[index]


TABLES = ("flows", "steps", "deps", "runs", "step_states", "step_tasks", "workers")


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows per pgflow table plus pgmq queues and all their messages: the 'no partial state' probe."""
    out = {t: int(conn.execute(f"select count(*) from pgflow.{t}").fetchone()[0]) for t in TABLES}  # type: ignore[index]
    queues = [r[0] for r in conn.execute("select queue_name from pgmq.list_queues()")]
    out["pgmq_queues"] = len(queues)
    out["pgmq_messages"] = sum(queue_size(conn, q) for q in queues)
    return out


def step_states(conn: psycopg.Connection, run_id: Any) -> dict[str, dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("select * from pgflow.step_states where run_id = %s", (run_id,)).fetchall()
    return {r["step_slug"]: r for r in rows}


def run_row(conn: psycopg.Connection, run_id: Any) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("select * from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert row is not None, f"run {run_id} not found"
    return row


def assert_run_completed_cleanly(conn: psycopg.Connection, run_id: Any, tasks_per_step: dict[str, int]) -> None:
    """The end-of-run invariants: run completed with remaining_steps 0; every step completed with
    remaining_tasks 0, initial_tasks = number of tasks, remaining_deps 0; every task completed
    exactly once (one row per index, status completed); no message of the run left in the queue."""
    run = run_row(conn, run_id)
    assert run["status"] == "completed", run
    assert run["remaining_steps"] == 0, run
    states = step_states(conn, run_id)
    assert set(states) == set(tasks_per_step), (sorted(states), sorted(tasks_per_step))
    for slug, n in tasks_per_step.items():
        s = states[slug]
        assert (s["status"], s["remaining_tasks"], s["initial_tasks"], s["remaining_deps"]) == ("completed", 0, n, 0), s
    rows = conn.execute(
        "select step_slug, task_index, status, count(*) over (partition by step_slug, task_index) "
        "from pgflow.step_tasks where run_id = %s",
        (run_id,),
    ).fetchall()
    got = defaultdict(list)
    for step, idx, status, dup in rows:
        assert status == "completed" and dup == 1, (step, idx, status, dup)
        got[step].append(idx)
    for slug, n in tasks_per_step.items():
        assert sorted(got[slug]) == list(range(n)), (slug, n, sorted(got[slug])[:10])
    assert queue_rows(conn, run["flow_slug"], run_id) == []


def compile_flow(conn: psycopg.Connection, flow: Any) -> None:
    res = conn.execute("select pgflow.ensure_flow_compiled(%s, %s)", (flow.slug, Jsonb(flow.shape()))).fetchone()
    assert res is not None and res[0]["status"] in ("compiled", "verified"), res


def age_started_tasks(conn: psycopg.Connection, where: str = "true", params: Sequence[Any] = ()) -> int:
    """Move started tasks' clocks back an hour, as if their flow timeout + 30 s had passed. This
    is how the tests inject time: requeue_stalled_tasks compares started_at with now()."""
    cur = conn.execute(
        "update pgflow.step_tasks st set queued_at = st.queued_at - interval '1 hour', "
        "started_at = st.started_at - interval '1 hour' "
        f"where st.status = 'started' and st.permanently_stalled_at is null and ({where})",
        params,
    )
    return cur.rowcount
