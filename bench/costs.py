"""What each contract call costs the server, in units that do not depend on the machine's load.

    python -m bench.costs [--calls N] [--map-size N] [--fast] [--top N]

Starts a throwaway PostgreSQL (durable settings unless ``--fast``) with pg_stat_statements
(``track = all``) and auto_explain preloaded, migrates it, and measures, per call averaged over
``--calls`` calls (each in its own transaction, on runs prepared beforehand):

* statements: the SQL statements executed inside the call (nested, as pg_stat_statements counts
  them: PL/pgSQL statements, pgmq's dynamic SQL, and one per foreign-key check);
* row writes per table (heap inserts, updates of which HOT, deletes) from pg_stat_xact_user_tables;
* WAL records and bytes, shared buffers hit and read, of the call (its pg_stat_statements entry,
  which includes everything it ran);
* server time (ms, load-dependent, printed for orientation), and the CPU the call's backend used
  (``/proc/<pid>/schedstat``, commit included, on this machine only; steadier than the time under
  load), from a second series of the same calls with nothing else in between and
  pg_stat_statements tracking nothing.

Then ``start_flow`` of a ``--map-size`` map: each statement it ran and each trigger those fired
(auto_explain with log_analyze, log_triggers and log_nested_statements), by time.

The calls are those of the contract path: start_flow, start_tasks for one message, complete_task
and fail_task, on a single-step flow, a 5-step chain and a map.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.flows import build_flow

Prepare = Callable[[psycopg.Connection[Any], int], list[dict[str, Any]]]

WORKER_ID = str(uuid.uuid4())


@dataclass
class CallCost:
    name: str
    calls: int
    statements: float
    fk_checks: float
    inserts: float
    updates: float
    hot_updates: float
    deletes: float
    wal_records: float
    wal_bytes: float
    blks_hit: float
    blks_read: float
    ms: float
    backend_cpu_ms: float | None
    writes_by_table: dict[str, float] = field(default_factory=dict)
    top_statements: list[tuple[float, str]] = field(default_factory=list)


def _create_flow(conn: psycopg.Connection[Any], kind: str, slug: str) -> None:
    for stmt in build_flow(kind, slug).compile():
        conn.execute(stmt.encode())
    conn.execute(
        "insert into pgflow.workers (worker_id, queue_name, function_name) values (%s, %s, 'bench.costs') "
        "on conflict do nothing",
        (str(uuid.uuid4()) if kind != "single" else WORKER_ID, slug),
    )


def _worker(conn: psycopg.Connection[Any], slug: str) -> str:
    row = conn.execute("select w.worker_id::text from pgflow.workers as w where w.queue_name = %s", (slug,)).fetchone()
    assert row is not None
    return str(row[0])


def _start_runs(conn: psycopg.Connection[Any], slug: str, n: int, input_json: str = "{}") -> list[str]:
    return [
        str(r[0])
        for r in conn.execute(
            "select (pgflow.start_flow(flow_slug => %s, input => %s::jsonb)).run_id::text from generate_series(1, %s)",
            (slug, input_json, n),
        )
    ]


def _queued(conn: psycopg.Connection[Any], slug: str, step: str) -> list[tuple[str, int, int]]:
    """(run_id, task_index, message_id) of the step's queued tasks, oldest message first."""
    return [
        (str(r[0]), int(r[1]), int(r[2]))
        for r in conn.execute(
            "select t.run_id::text, t.task_index, t.message_id from pgflow.step_tasks as t "
            "where t.flow_slug = %s and t.step_slug = %s and t.status = 'queued' order by t.message_id",
            (slug, step),
        )
    ]


def _start_all(conn: psycopg.Connection[Any], slug: str, step: str) -> list[tuple[str, int, int]]:
    tasks = _queued(conn, slug, step)
    conn.execute(
        "select count(*) from pgflow.start_tasks(flow_slug => %s, msg_ids => %s::bigint[], worker_id => %s)",
        (slug, [t[2] for t in tasks], _worker(conn, slug)),
    )
    return tasks


START_FLOW = "select * from pgflow.start_flow(flow_slug => %(slug)s, input => %(input)s::jsonb)"
START_TASKS = (
    "select * from pgflow.start_tasks(flow_slug => %(slug)s, msg_ids => %(ids)s::bigint[], worker_id => %(w)s)"
)
COMPLETE_TASK = (
    "select * from pgflow.complete_task(run_id => %(run)s::uuid, step_slug => %(step)s, task_index => %(i)s, "
    "output => %(out)s::jsonb)"
)
FAIL_TASK = (
    "select * from pgflow.fail_task(run_id => %(run)s::uuid, step_slug => %(step)s, task_index => %(i)s, "
    "error_message => 'boom')"
)


def _cases(map_tasks: int) -> list[tuple[str, str, Prepare]]:
    """(name, statement, prepare): prepare(conn, n) sets up n calls and returns their parameters."""

    def start_flow(kind: str, input_json: str) -> Prepare:
        def prep(conn: psycopg.Connection[Any], n: int) -> list[dict[str, Any]]:
            return [{"slug": f"costs_{kind}", "input": input_json}] * n

        return prep

    def start_tasks(slug: str, step: str) -> Prepare:
        def prep(conn: psycopg.Connection[Any], n: int) -> list[dict[str, Any]]:
            _start_runs(conn, slug, n)
            w = _worker(conn, slug)
            return [{"slug": slug, "ids": [m], "w": w} for _, _, m in _queued(conn, slug, step)[-n:]]

        return prep

    def complete(slug: str, step: str, out: str, input_json: str = "{}", runs: int | None = None) -> Prepare:
        def prep(conn: psycopg.Connection[Any], n: int) -> list[dict[str, Any]]:
            _start_runs(conn, slug, runs if runs is not None else n, input_json)
            tasks = _start_all(conn, slug, step)
            if runs is not None:  # a map: never its last task
                tasks = [t for t in tasks if t[1] < map_tasks - 1]
            return [{"run": r, "step": step, "i": i, "out": out} for r, i, _ in tasks[:n]]

        return prep

    def fail(slug: str, step: str) -> Prepare:
        def prep(conn: psycopg.Connection[Any], n: int) -> list[dict[str, Any]]:
            _start_runs(conn, slug, n)
            return [{"run": r, "step": step, "i": i} for r, i, _ in _start_all(conn, slug, step)[:n]]

        return prep

    map_input = json.dumps(list(range(map_tasks)))
    return [
        ("start_flow: single step", START_FLOW, start_flow("single", "{}")),
        ("start_flow: 5-step chain", START_FLOW, start_flow("chain", "{}")),
        (f"start_flow: map of {map_tasks} + join", START_FLOW, start_flow("map", map_input)),
        ("start_tasks: 1 task, single step", START_TASKS, start_tasks("costs_single", "only")),
        ("complete_task: single step (run completes)", COMPLETE_TASK, complete("costs_single", "only", "1")),
        ("complete_task: chain step 1 (starts step 2)", COMPLETE_TASK, complete("costs_chain", "s0", "1")),
        ("complete_task: a map task (not the last)", COMPLETE_TASK, complete("costs_map", "each", "1", map_input, 1)),
        ("fail_task: retry (attempts left)", FAIL_TASK, fail("costs_single", "only")),
    ]


def _xact_writes(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int, int, int]]:
    return {
        str(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4]))
        for r in conn.execute(
            "select t.schemaname || '.' || case when t.schemaname = 'pgmq' then regexp_replace(t.relname, '_.*', '_*') "
            "else t.relname end, sum(t.n_tup_ins), sum(t.n_tup_upd), sum(t.n_tup_hot_upd), sum(t.n_tup_del) "
            "from pg_stat_xact_user_tables as t where t.schemaname in ('pgflow', 'pgmq') group by 1 "
            "having sum(t.n_tup_ins + t.n_tup_upd + t.n_tup_del) > 0"
        )
    }


def _backend_cpu_ns(conn: psycopg.Connection[Any]) -> int | None:
    """CPU time (ns) used so far by this connection's backend; None off this machine."""
    row = conn.execute("select pg_backend_pid()").fetchone()
    try:
        with open(f"/proc/{row[0] if row else 0}/schedstat", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _backend_cpu_ms(conn: psycopg.Connection[Any], stmt: str, params: list[dict[str, Any]]) -> float | None:
    """The backend CPU per call of a second series of the same calls, nothing else in between
    (no per-call statistics queries; pg_stat_statements told to track nothing)."""
    conn.execute("analyze")
    conn.execute("set pg_stat_statements.track = 'none'")
    cpu0 = _backend_cpu_ns(conn)
    conn.autocommit = False
    for p in params:
        conn.execute(stmt, p).fetchall()
        conn.commit()
    conn.autocommit = True
    cpu1 = _backend_cpu_ns(conn)
    conn.execute("reset pg_stat_statements.track")
    return None if cpu0 is None or cpu1 is None or not params else (cpu1 - cpu0) / len(params) / 1e6


def measure(conn: psycopg.Connection[Any], name: str, stmt: str, prepare: Prepare, n: int, top: int) -> CallCost:
    conn.autocommit = True
    params = prepare(conn, n)
    conn.execute("analyze")
    # Every measurement starts right after a checkpoint: the first change of each page after one
    # writes a full-page image to the WAL, so WAL bytes depend on how many distinct pages a call
    # touches (what grows with a long history when inserts land on random pages)
    conn.execute("checkpoint")
    conn.execute("select pg_stat_statements_reset()")
    writes: dict[str, list[int]] = {}
    times: list[float] = []
    conn.autocommit = False
    for p in params:
        # pending counters survive commits until they are flushed: take the call's difference
        before = _xact_writes(conn)
        t0 = time.perf_counter()
        conn.execute(stmt, p).fetchall()
        times.append((time.perf_counter() - t0) * 1000)
        for table, counts in _xact_writes(conn).items():
            acc = writes.setdefault(table, [0, 0, 0, 0])
            for j, v in enumerate(counts):
                acc[j] += v - before.get(table, (0, 0, 0, 0))[j]
        conn.commit()
    conn.autocommit = True
    key = stmt.split("(")[0]
    rows = conn.execute(
        "select s.toplevel, s.calls, s.query, s.wal_records, s.wal_bytes, s.shared_blks_hit, s.shared_blks_read, "
        "s.total_exec_time from pg_stat_statements as s"
    ).fetchall()
    top_entry = [r for r in rows if r[0] and r[2].startswith(key)]
    nested = [r for r in rows if not r[0]]
    assert top_entry, f"no pg_stat_statements entry for {key}"
    calls = len(params)
    fk = sum(r[1] for r in nested if "FOR KEY SHARE OF x" in r[2])
    total_writes = [sum(w[j] for w in writes.values()) for j in range(4)]
    cpu_ms = _backend_cpu_ms(conn, stmt, prepare(conn, n))
    return CallCost(
        name=name,
        calls=calls,
        statements=sum(r[1] for r in nested) / calls,
        fk_checks=fk / calls,
        inserts=total_writes[0] / calls,
        updates=total_writes[1] / calls,
        hot_updates=total_writes[2] / calls,
        deletes=total_writes[3] / calls,
        wal_records=sum(r[3] for r in top_entry) / calls,
        wal_bytes=float(sum(r[4] for r in top_entry)) / calls,
        blks_hit=sum(r[5] for r in top_entry) / calls,
        blks_read=sum(r[6] for r in top_entry) / calls,
        ms=statistics.median(times),
        backend_cpu_ms=cpu_ms,
        writes_by_table={t: sum(w) / calls for t, w in sorted(writes.items())},
        top_statements=sorted(((r[1] / calls, " ".join(r[2].split())[:90]) for r in nested), reverse=True)[:top],
    )


def explain_big_map(conn: psycopg.Connection[Any], log: Path, size: int) -> list[tuple[float, str]]:
    """start_flow of a map of `size`: (ms, what) for each nested statement and trigger, by time."""
    conn.autocommit = True
    names = {
        str(r[0]): f"{r[1]} ({r[2]})"
        for r in conn.execute(
            "select t.tgname, c.conname, t.tgrelid::regclass::text from pg_trigger as t "
            "join pg_constraint as c on c.oid = t.tgconstraint where t.tgname like 'RI_ConstraintTrigger%%'"
        )
    }
    offset = log.stat().st_size
    conn.execute("load 'auto_explain'")
    for k, v in (
        ("log_min_duration", "0"), ("log_analyze", "on"), ("log_triggers", "on"), ("log_nested_statements", "on"),
        ("log_format", "json"), ("log_timing", "on"), ("log_buffers", "on"),
    ):
        conn.execute(f"set auto_explain.{k} = {v}")
    t0 = time.perf_counter()
    conn.execute(
        "select * from pgflow.start_flow(flow_slug => 'costs_map', "
        "input => (select jsonb_agg(i) from generate_series(0, %s - 1) as i))",
        (size,),
    )
    wall = (time.perf_counter() - t0) * 1000
    conn.execute("set auto_explain.log_min_duration = -1")
    text = log.read_text(encoding="utf-8", errors="replace")[offset:]
    out: list[tuple[float, str]] = [(wall, "start_flow call, wall clock with auto_explain on (client side)")]
    decoder = json.JSONDecoder()
    pos = 0
    while (start := text.find("{\n", pos)) >= 0:
        try:
            doc, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            pos = start + 1
            continue
        pos = end
        query = " ".join(str(doc.get("Query Text", "")).split())
        if query.startswith("select * from pgflow.start_flow"):
            continue
        ms = float(doc.get("Plan", {}).get("Actual Total Time", 0.0))
        out.append((ms, f"statement: {query[:80]}"))
        for trig in doc.get("Triggers", []):
            tname = str(trig.get("Trigger Name"))
            label = names.get(tname, tname)
            out.append((float(trig.get("Time", 0.0)), f"  trigger {label} x {trig.get('Calls')}"))
    return sorted(out, key=lambda x: -x[0])


def time_big_map(conn: psycopg.Connection[Any], size: int, reps: int = 3) -> tuple[float, float]:
    """Median ms of start_flow of a map of `size` (one transaction each, commit included), as is
    and with triggers off (session_replication_role = replica: measured only, to size the
    foreign-key checks' share; the engine never runs that way)."""
    conn.autocommit = True
    out = []
    for role in ("origin", "replica"):
        times = []
        for _ in range(reps):
            conn.execute(f"set session_replication_role = {role}")
            t0 = time.perf_counter()
            conn.execute(
                "select * from pgflow.start_flow(flow_slug => 'costs_map', "
                "input => (select jsonb_agg(i) from generate_series(0, %s - 1) as i))",
                (size,),
            )
            times.append((time.perf_counter() - t0) * 1000)
        out.append(statistics.median(times))
    conn.execute("set session_replication_role = origin")
    return out[0], out[1]


def print_table(costs: list[CallCost], top: int) -> None:
    print("| call | statements | FK checks | rows inserted | updated (HOT) | deleted | WAL records | WAL bytes "
          "| buffers hit | read | server ms | backend CPU ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in costs:
        print(
            f"| {c.name} | {c.statements:.1f} | {c.fk_checks:.1f} | {c.inserts:.1f} | {c.updates:.1f} "
            f"({c.hot_updates:.1f}) | {c.deletes:.1f} | {c.wal_records:.0f} | {c.wal_bytes:,.0f} | {c.blks_hit:,.0f} "
            f"| {c.blks_read:.0f} | {c.ms:.2f} | {'-' if c.backend_cpu_ms is None else f'{c.backend_cpu_ms:.2f}'} |"
        )
    if top:
        for c in costs:
            print(f"\n{c.name}: row writes by table (per call): "
                  + ", ".join(f"{t} {v:.1f}" for t, v in c.writes_by_table.items()))
            for calls, q in c.top_statements:
                print(f"    {calls:7.1f} x {q}")


@contextlib.contextmanager
def _server(fast: bool) -> Iterator[Any]:
    from pgflow.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(
        fast=fast,
        settings={
            "shared_preload_libraries": "pg_stat_statements,auto_explain",
            "pg_stat_statements.track": "all",
            "pg_stat_statements.max": "10000",
            "track_counts": "on",
        },
    ).start()
    try:
        pg.wait_ready()
        yield pg
    finally:
        pg.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.costs", description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=50, help="calls measured per row (default 50)")
    p.add_argument("--map-size", type=int, default=10000, help="elements of the big map (default 10000)")
    p.add_argument("--fast", action="store_true", help="fsync and synchronous_commit off")
    p.add_argument("--top", type=int, default=0, help="also list each call's N most frequent statements")
    p.add_argument("--dsn", help="an existing server with pg_stat_statements (track = all) preloaded")
    p.add_argument("--history", type=int, default=0, help="first load N finished tasks (bench.history)")
    p.add_argument("--skip-map", action="store_true", help="leave out the big map's breakdown")
    args = p.parse_args(argv)
    from pgflow import migrator

    with contextlib.ExitStack() as stack:
        if args.dsn:
            dsn, log = args.dsn, None
        else:
            pg = stack.enter_context(_server(args.fast))
            dsn, log = pg.dsn, Path(pg.basedir) / "server.log"
        migrator.migrate(dsn)
        conn = stack.enter_context(psycopg.connect(dsn, autocommit=True))
        conn.execute("create extension if not exists pg_stat_statements")
        if args.history:
            from bench.history import load_history

            load_history(conn, args.history)
        for kind in ("single", "chain", "map"):
            _create_flow(conn, kind, f"costs_{kind}")
        costs = []
        for name, stmt, prep in _cases(100):
            n = 5 if "map of" in name else min(args.calls, 99)
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            costs.append(measure(conn, name, stmt, prep, n, args.top))
        print_table(costs, args.top)
        if args.skip_map:
            return 0
        with_fk, without_fk = time_big_map(conn, args.map_size)
        print(
            f"\nstart_flow of a map of {args.map_size} (median of 3, commit included): {with_fk:.0f} ms; "
            f"with triggers off (measured only): {without_fk:.0f} ms"
        )
        if log is not None:
            print(f"\nstart_flow of a map of {args.map_size}: where the time goes (ms, auto_explain)\n")
            for ms, what in explain_big_map(conn, log, args.map_size)[:25]:
                print(f"{ms:10.1f}  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
