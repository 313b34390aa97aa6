"""History: a database with many finished runs, made fast with set-based SQL, then pruned.

``prefill(conn, flow_slug, step_slug, tasks, ...)`` adds finished (completed) runs of a flow whose
one step is a map: per run, its ``pgflow.runs`` row, its step state, ``tasks_per_run`` completed
tasks, and each task's archived message in the flow's ``pgmq.a_<flow>`` (a message id taken from
the queue's own sequence), as a worker would have left them. Finish times are spread uniformly
over the ``span`` before now. One statement per chunk of runs (data-modifying CTEs, each
referenced by the next), so a million tasks take seconds, not hours.

``prune_all(conn, older_than)`` calls ``pgflow.prune_runs`` until it deletes nothing, as the
worker's retention job and ``pgflow prune`` do.

Scenario 1 "with a pruned history" (``python -m bench --pruned-history 1000000``) measures scenario 1 on two
databases of one server, rounds interleaved: an empty one, and one that was pre-filled with that
many finished tasks over the past week and pruned down to the last hour (see :func:`run_history`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.types.json import Jsonb

HISTORY_FLOW = "bench_history"
HISTORY_STEP = "each"
TASKS_PER_RUN = 10
RUNS_PER_STATEMENT = 10_000

_PREFILL = """
with r as (
    insert into pgflow.runs (run_id, flow_slug, status, input, output, remaining_steps, started_at, completed_at)
    select gen_random_uuid(), %(flow)s, 'completed', %(input)s::jsonb,
        jsonb_build_object(%(step)s::text, %(input)s::jsonb), 0, f.at - interval '1 second', f.at
    from (
        select now() - %(offset)s::interval - %(span)s::interval * random() as at from generate_series(1, %(runs)s)
    ) as f
    returning run_id, started_at, completed_at
), s as (
    insert into pgflow.step_states (
        flow_slug, run_id, step_slug, status, remaining_tasks, initial_tasks, remaining_deps,
        created_at, started_at, completed_at
    )
    select %(flow)s, r.run_id, %(step)s, 'completed', 0, %(per)s, 0, r.started_at, r.started_at, r.completed_at
    from r
    returning run_id, started_at, completed_at
), t as (
    insert into pgflow.step_tasks (
        flow_slug, run_id, step_slug, message_id, task_index, status, attempts_count, output,
        queued_at, started_at, completed_at
    )
    select %(flow)s, s.run_id, %(step)s, nextval(%(seq)s::regclass), i, 'completed', 1, to_jsonb(i),
        s.started_at, s.started_at, s.completed_at
    from s cross join generate_series(0, %(per)s - 1) as i
    returning run_id, task_index, message_id, queued_at, completed_at
)
insert into {archive} (msg_id, read_ct, enqueued_at, archived_at, vt, message)
select t.message_id, 1, t.queued_at, t.completed_at, t.completed_at,
    jsonb_build_object('flow_slug', %(flow)s::text, 'run_id', t.run_id, 'step_slug', %(step)s::text,
                       'task_index', t.task_index)
from t
"""


def create_history_flow(
    conn: psycopg.Connection[Any], flow_slug: str = HISTORY_FLOW, step_slug: str = HISTORY_STEP
) -> None:
    """A flow whose one step is a root map (the shape prefill writes)."""
    conn.execute("select pgflow.create_flow(flow_slug => %s)", (flow_slug,))
    conn.execute("select pgflow.add_step(flow_slug => %s, step_slug => %s, step_type => 'map')", (flow_slug, step_slug))


def prefill(
    conn: psycopg.Connection[Any],
    flow_slug: str,
    step_slug: str,
    tasks: int,
    *,
    span: timedelta = timedelta(days=7),
    offset: timedelta = timedelta(0),
    tasks_per_run: int = TASKS_PER_RUN,
    say: Callable[[str], None] | None = None,
) -> int:
    """Add ``tasks // tasks_per_run`` completed runs of ``flow_slug`` (a root map step
    ``step_slug``) finished within ``span`` before ``now() - offset``. Returns how many runs it
    added."""
    runs = tasks // tasks_per_run
    seq_row = conn.execute(
        "select pg_get_serial_sequence(format('pgmq.%%I', 'q_' || lower(%s)), 'msg_id')", (flow_slug,)
    ).fetchone()
    if seq_row is None or seq_row[0] is None:
        raise RuntimeError(f"flow {flow_slug!r} has no pgmq queue")
    archive = pgsql.Identifier("pgmq", "a_" + flow_slug.lower())
    statement = pgsql.SQL(_PREFILL).format(archive=archive)
    element_input = list(range(tasks_per_run))
    done = 0
    while done < runs:
        n = min(RUNS_PER_STATEMENT, runs - done)
        params = {
            "flow": flow_slug, "step": step_slug, "runs": n, "per": tasks_per_run, "span": span, "offset": offset,
            "seq": seq_row[0], "input": Jsonb(element_input),
        }
        conn.execute(statement, params)
        done += n
        if say is not None and (done % (RUNS_PER_STATEMENT * 10) == 0 or done == runs):
            say(f"history: {done * tasks_per_run:,} of {runs * tasks_per_run:,} finished tasks written")
    return runs


def prune_all(
    conn: psycopg.Connection[Any], older_than: timedelta, max_runs: int = 1000,
    say: Callable[[str], None] | None = None,
) -> int:
    """``pgflow.prune_runs`` until it deletes nothing; returns the runs deleted."""
    total = 0
    while True:
        row = conn.execute("select pgflow.prune_runs(%s, %s)", (older_than, max_runs)).fetchone()
        deleted = int(row[0]) if row else 0
        total += deleted
        if say is not None and deleted and total % (max_runs * 20) == 0:
            say(f"history: pruned {total:,} runs")
        if deleted == 0:
            return total


def history_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    row = conn.execute(
        "select (select count(*) from pgflow.runs), (select count(*) from pgflow.step_tasks)"
    ).fetchone()
    assert row is not None
    return {"runs": int(row[0]), "tasks": int(row[1])}


def make_pruned_database(dsn: str, tasks: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Pre-fill ``tasks`` finished tasks over the past week, prune to the last hour, then
    ``vacuum analyze`` the runtime tables (what autovacuum does after a mass delete). Returns the
    counts and timings."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        create_history_flow(conn)
        t0 = time.monotonic()
        prefill(conn, HISTORY_FLOW, HISTORY_STEP, tasks, say=say)
        fill_s = time.monotonic() - t0
        before = history_counts(conn)
        t0 = time.monotonic()
        pruned = prune_all(conn, timedelta(hours=1), say=say)
        prune_s = time.monotonic() - t0
        after = history_counts(conn)
        t0 = time.monotonic()
        archive = pgsql.Identifier("pgmq", "a_" + HISTORY_FLOW).as_string(conn)
        conn.execute(f"vacuum analyze pgflow.runs, pgflow.step_states, pgflow.step_tasks, {archive}")
        vacuum_s = time.monotonic() - t0
    info = {
        "history_tasks": before["tasks"], "history_runs": before["runs"], "prefill_s": round(fill_s, 1),
        "pruned_runs": pruned, "prune_s": round(prune_s, 1), "kept_runs": after["runs"],
        "kept_tasks": after["tasks"], "vacuum_s": round(vacuum_s, 1),
    }
    say(f"history: {info}")
    return info


def run_history(
    dsn: str, sizes: Any, tasks: int, say: Callable[[str], None], postmaster_pid: int | None = None
) -> list[dict[str, Any]]:
    """Scenario 1 on the empty database ``dsn`` and on a second database of the same server that
    holds ``tasks`` finished tasks pruned to the last hour: for each worker count, an untimed
    warm-up on each, then ``repeat`` rounds of each, interleaved and in alternating order (empty
    then pruned, pruned then empty, ...), so both see the same machine load."""
    from psycopg.conninfo import make_conninfo

    from bench.report import result_row
    from bench.scenarios import Bench
    from pgflow import migrator

    name = f"bench_history_{int(time.time())}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(pgsql.SQL("create database {}").format(pgsql.Identifier(name)))
    pruned_dsn = make_conninfo(dsn, dbname=name)
    rows: list[dict[str, Any]] = []
    try:
        migrator.migrate(pruned_dsn)
        info = make_pruned_database(pruned_dsn, tasks, say)
        empty, pruned = Bench(dsn, sizes, postmaster_pid=postmaster_pid), Bench(pruned_dsn, sizes,
                                                                                postmaster_pid=postmaster_pid)
        try:
            for k in sizes.workers:
                for bench in (empty, pruned):  # untimed warm-up of each
                    bench.drain("single", max(100, sizes.runs // 10), 1, k)
                samples: dict[str, list[dict[str, Any]]] = {"empty": [], "pruned": []}
                for i in range(sizes.repeat):
                    order = (("empty", empty), ("pruned", pruned))
                    for label, bench in order if i % 2 == 0 else order[::-1]:  # neither always goes first
                        s = bench.drain("single", sizes.runs, 1, k)
                        s["loadavg_1m"] = _loadavg()
                        samples[label].append(s)
                        say(f"[1h] K={k} {label:6} run {i + 1}/{sizes.repeat}: {s['tasks_per_s']:8.0f} tasks/s "
                            f"({s['seconds']:.2f} s), load average {s['loadavg_1m']:.2f}")
                for label in ("empty", "pruned"):
                    extra = {"database": label, **({"history": info} if label == "pruned" else {})}
                    rows.append(result_row("1", k, True, samples[label], tasks=sizes.runs, **extra))
                med = [_median([x["tasks_per_s"] for x in samples[lb]]) for lb in ("empty", "pruned")]
                say(f"[1h] K={k}: median pruned/empty = {med[1] / med[0]:.2f}")
        finally:
            empty.close()
            pruned.close()
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(pgsql.SQL("drop database if exists {} with (force)").format(pgsql.Identifier(name)))
    return rows


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def _loadavg() -> float:
    import os

    return os.getloadavg()[0]
