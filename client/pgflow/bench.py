"""Benchmarks: pgflow-py's throughput and latency against the raw pgmq floor on the same server.

    python -m pgflow.bench [--dsn URL] [--quick] [--scenarios 1,2,...] [--json PATH]

Without ``--dsn`` a throwaway PostgreSQL is started (:class:`pgflow.embedded.EmbeddedPostgres`,
``fast=True`` by default: fsync, synchronous_commit and full_page_writes off; ``--durable``
keeps PostgreSQL's defaults) and migrated. With ``--dsn`` the database is migrated if needed and
the benchmark's flows (slugs ``bench_*``) are deleted afterwards.

Scenarios (every figure is the median of ``--repeat`` runs, default 3, with min and max):

1. a single-step flow, ``--runs`` (5,000) runs started beforehand, drained by K = 1, 2, 4
   worker processes (:class:`pgflow.worker.Worker`, no-op async handlers, default options):
   tasks/s; peak RSS of a worker process.
2. a 5-step chain, ``--chain-runs`` (1,000) runs started beforehand, K = 4: tasks/s, runs/s.
3. one run with a root map of ``--map-size`` (10,000) elements then a join step, K = 4 idle
   workers: seconds from start_flow to run:completed; start_flow alone; and the final
   aggregation (the complete_task of the last map task, measured on its own: 9,999 tasks are
   completed by direct table writes, then the last one through ``pgflow.complete_task``).
4. latency from start_flow's commit to handler start, one idle worker, ``--latency-runs``
   (200) runs at ``--latency-rate`` (20) runs/s: p50/p95/p99 ms, NOTIFY wake-ups on and off.
5. the floor: raw pgmq on the same server, K processes, as many messages as the engine figure
   it is compared with: ``pgmq.send_batch`` (timed apart), then ``pgmq.read(queue, vt, 10)`` +
   ``pgmq.archive(queue, msg_ids[])`` until the queue is empty (msgs/s of the drain); and
   ``select 1`` round trips/s with K processes.

Engine throughput is timed from the first task started (min ``step_tasks.started_at``) to the
last run completed (max ``runs.completed_at``), on the server's clock; the floor from the
release of its processes to the last of them finding the queue empty. Each engine figure is
also given as a ratio to its floor (tasks/s / raw pgmq msgs/s, same K, same message count).

Results: a table on stdout, progress on stderr, JSON in ``bench-results.json`` at the
repository root (or ``--json PATH``). Benchmarks are not tests: tests/bench/ only checks the
shape of the JSON with tiny sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql

__all__ = ["main", "run_benchmarks"]

ROW_KEYS = (
    "scenario", "workers", "notify", "tasks_per_s", "floor_msgs_per_s", "ratio_to_floor",
    "p50_ms", "p95_ms", "p99_ms", "seconds",
)
FIGURES = ("tasks_per_s", "floor_msgs_per_s", "ratio_to_floor", "p50_ms", "p95_ms", "p99_ms", "seconds")

_CTX = mp.get_context("spawn")  # no fork of a process holding connections or threads


# --------------------------------------------------------------------------------------------
# Flows (built in the parent to compile them, and in each worker process to run them)
# --------------------------------------------------------------------------------------------


def build_flow(kind: str, slug: str) -> Any:
    """The benchmark flows: ``single`` (one step), ``chain`` (5 steps in a row), ``map`` (root
    map then a join), ``latency`` (one step whose output is the handler's start time)."""
    from pgflow.dsl import Flow

    flow = Flow(slug)
    if kind == "single":

        @flow.step("only")
        async def only(_input: Any) -> Any:
            return 1

    elif kind == "chain":
        prev: list[str] = []
        for i in range(5):

            async def step(_input: Any) -> Any:
                return 1

            flow.step(f"s{i}", depends_on=prev)(step)
            prev = [f"s{i}"]
    elif kind == "map":

        @flow.map("each")
        async def each(item: Any) -> Any:
            return item

        @flow.step("join", depends_on=["each"])
        async def join(deps: Any) -> Any:
            return len(deps["each"])

    elif kind == "latency":

        @flow.step("only")
        async def stamp(_input: Any) -> Any:
            return {"t": time.monotonic()}  # CLOCK_MONOTONIC: one clock for every process

    else:
        raise ValueError(f"unknown flow kind {kind!r}")
    return flow


def _cpu_s() -> float:
    usage = os.times()
    return usage.user + usage.system


def server_cpu_s(postmaster_pid: int | None) -> float | None:
    """CPU seconds used so far by a local PostgreSQL server: the postmaster, its live children
    (backends, background processes) and the children it has reaped; None when it cannot be read
    (remote server, no /proc)."""
    if postmaster_pid is None:
        return None
    try:
        tick = os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{postmaster_pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", encoding="ascii") as f:
                    child = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(child[1]) == postmaster_pid:
                total += int(child[11]) + int(child[12])
        return total / tick
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------------


def _worker_proc(
    dsn: str, kind: str, slug: str, options: dict[str, Any], ready: Any, go: Any, running: Any, stop: Any, out: Any
) -> None:
    """A pgflow Worker in its own process: ready -> wait for go -> run until stop."""
    from pgflow.worker import Worker

    flow = build_flow(kind, slug)
    ready.set()
    go.wait()
    worker = Worker(flow, dsn, compile="off", **options)

    async def main() -> None:
        def stopper() -> None:
            stop.wait()
            worker.stop()

        threading.Thread(target=stopper, daemon=True).start()
        run = asyncio.create_task(worker.run())
        await worker.started.wait()
        at_start.append(_cpu_s())  # imports, connections and registration are not the drain's
        running.set()
        await run

    at_start: list[float] = []
    try:
        asyncio.run(main())
        total = _cpu_s()
        out.put({
            "kind": "worker",
            "stats": dict(worker.stats),
            "rss_mb": _peak_rss_mb(),
            "cpu_s": total - (at_start[0] if at_start else 0.0),
        })
    except BaseException as exc:
        out.put({"kind": "worker", "error": repr(exc)})
        raise


def _floor_proc(dsn: str, queue: str, batch: int, ready: Any, go: Any, out: Any) -> None:
    """Raw pgmq consumer: read a batch, archive it, until the queue is empty."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select 1")
        ready.set()
        go.wait()
        t0 = time.monotonic()
        n = 0
        while True:
            ids = [
                r[0]
                for r in conn.execute(
                    "select msg_id from pgmq.read(queue_name => %s::text, vt => 30, qty => %s::int)", (queue, batch)
                )
            ]
            if not ids:
                break
            conn.execute("select pgmq.archive(queue_name => %s::text, msg_ids => %s::bigint[])", (queue, ids))
            n += len(ids)
        out.put({"kind": "floor", "n": n, "t0": t0, "t1": time.monotonic()})


def _select1_proc(dsn: str, seconds: float, ready: Any, go: Any, out: Any) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select 1")
        ready.set()
        go.wait()
        n = 0
        t0 = time.monotonic()
        end = t0 + seconds
        while time.monotonic() < end:
            for _ in range(100):
                conn.execute("select 1").fetchone()
            n += 100
        out.put({"kind": "select1", "n": n, "t0": t0, "t1": time.monotonic()})


@dataclass
class _Group:
    """K child processes started together: each signals ready, all are released at once."""

    procs: list[Any] = field(default_factory=list)
    ready: list[Any] = field(default_factory=list)
    running: list[Any] = field(default_factory=list)
    go: Any = None
    stop: Any = None
    out: Any = None

    def wait_ready(self) -> None:
        for e in self.ready:
            if not e.wait(120):
                raise RuntimeError("a benchmark process did not get ready in 120 s")

    def release(self) -> float:
        self.wait_ready()
        t = time.monotonic()
        self.go.set()
        return t

    def wait_running(self, timeout: float = 60) -> None:
        for e in self.running:
            if not e.wait(timeout):
                raise RuntimeError("a worker did not start polling in time")

    def results(self, timeout: float = 120) -> list[dict[str, Any]]:
        got = [self.out.get(timeout=timeout) for _ in self.procs]
        for p in self.procs:
            p.join(30)
        errors = [r["error"] for r in got if "error" in r]
        if errors:
            raise RuntimeError(f"benchmark process failed: {errors[0]}")
        return got

    def kill(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(5)


def _spawn(k: int, target: Callable[..., None], args_for: Callable[[_Group, int], tuple[Any, ...]]) -> _Group:
    g = _Group(go=_CTX.Event(), stop=_CTX.Event(), out=_CTX.Queue())
    for i in range(k):
        g.ready.append(_CTX.Event())
        g.running.append(_CTX.Event())
        p = _CTX.Process(target=target, args=args_for(g, i), daemon=True)
        p.start()
        g.procs.append(p)
    return g


def _workers(dsn: str, k: int, kind: str, slug: str, options: dict[str, Any]) -> _Group:
    return _spawn(
        k,
        _worker_proc,
        lambda g, i: (dsn, kind, slug, options, g.ready[i], g.go, g.running[i], g.stop, g.out),
    )


# --------------------------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------------------------


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Sizes:
    runs: int = 5000
    chain_runs: int = 1000
    map_size: int = 10000
    latency_runs: int = 200
    latency_rate: float = 20.0
    select1_seconds: float = 2.0
    workers: tuple[int, ...] = (1, 2, 4)
    repeat: int = 3

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            runs=1000, chain_runs=200, map_size=2000, latency_runs=40, latency_rate=20.0,
            select1_seconds=0.5, workers=(1, 4), repeat=3,
        )


class Bench:
    def __init__(
        self,
        dsn: str,
        sizes: Sizes,
        worker_options: dict[str, Any] | None = None,
        postmaster_pid: int | None = None,
    ) -> None:
        self.dsn = dsn
        self.postmaster_pid = postmaster_pid  # a local server's: its CPU is measured too
        self.sizes = sizes
        self.worker_options = worker_options or {}
        self.conn = psycopg.connect(dsn, autocommit=True)
        self._seq = 0
        self._floor_cache: dict[tuple[int, int], list[float]] = {}

    def close(self) -> None:
        self.conn.close()

    # -- plumbing --------------------------------------------------------------------------

    def _slug(self, what: str) -> str:
        self._seq += 1
        return f"bench_{what}_{os.getpid()}_{self._seq}"

    def _create(self, kind: str, what: str) -> str:
        slug = self._slug(what)
        for stmt in build_flow(kind, slug).compile():
            self.conn.execute(stmt.encode())
        return slug

    def _drop(self, slug: str) -> None:
        self.conn.execute("select pgflow.delete_flow_and_data(p_flow_slug => %s)", (slug,))
        self.conn.execute("delete from pgflow.workers as w where w.queue_name = %s", (slug,))
        for table in ("pgflow.step_tasks", "pgflow.step_states", "pgflow.runs", "pgflow.workers"):
            self.conn.execute(f"vacuum {table}")  # keeps the statistics of a table in use

    @contextlib.contextmanager
    def _flow(self, kind: str, what: str) -> Iterator[str]:
        slug = self._create(kind, what)
        try:
            yield slug
        finally:
            self._drop(slug)

    def _start_runs(self, slug: str, n: int, input_sql: str = "'{}'::jsonb") -> None:
        # Chunks of 1,000 per statement: a realistic transaction size, and progress stays visible.
        done = 0
        while done < n:
            m = min(1000, n - done)
            self.conn.execute(
                f"select count(*) from (select pgflow.start_flow(flow_slug => %s, input => {input_sql}) "
                "from generate_series(1, %s)) as s",
                (slug, m),
            )
            done += m
        # Statistics as a server in use has them (autovacuum may not have run yet)
        self.conn.execute(f"analyze pgmq.{pgsql.Identifier('q_' + slug).as_string(self.conn)}")
        self.conn.execute("analyze pgflow.runs, pgflow.step_states, pgflow.step_tasks")

    def _server_seconds(self, slug: str) -> float:
        row = self.conn.execute(
            """
            select extract(epoch from (
                (select max(r.completed_at) from pgflow.runs as r where r.flow_slug = %(s)s)
                - (select min(t.started_at) from pgflow.step_tasks as t where t.flow_slug = %(s)s)
            ))::float8
            """,
            {"s": slug},
        ).fetchone()
        assert row is not None and row[0] is not None
        return float(row[0])

    def _wait_runs_done(self, slug: str, n: int, group: _Group, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while True:
            row = self.conn.execute(
                "select count(*) filter (where r.status <> 'started'), count(*) filter (where r.status = 'failed') "
                "from pgflow.runs as r where r.flow_slug = %s",
                (slug,),
            ).fetchone()
            assert row is not None
            if row[1]:
                raise RuntimeError(f"{row[1]} benchmark run(s) of {slug} failed")
            if row[0] >= n:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{slug}: only {row[0]} of {n} runs finished in {timeout} s")
            if not any(p.is_alive() for p in group.procs):
                raise RuntimeError(f"{slug}: every worker process exited; {row[0]} of {n} runs finished")
            # The times come from the server's timestamps, so polling often gains nothing; each
            # poll (~1 ms of server CPU at 5,000 runs) competes with the workers being measured.
            time.sleep(0.2)

    def _stop(self, group: _Group) -> list[dict[str, Any]]:
        group.stop.set()
        try:
            return group.results()
        finally:
            group.kill()

    # -- engine throughput (scenarios 1 and 2) -----------------------------------------------

    def drain(self, kind: str, runs: int, steps: int, k: int) -> dict[str, Any]:
        with self._flow(kind, f"{kind}{k}") as slug:
            self._start_runs(slug, runs)
            group = _workers(self.dsn, k, kind, slug, self.worker_options)
            try:
                group.wait_ready()
                cpu0 = server_cpu_s(self.postmaster_pid)
                group.release()
                self._wait_runs_done(slug, runs, group)
                cpu1 = server_cpu_s(self.postmaster_pid)
                results = self._stop(group)
            finally:
                group.kill()
            seconds = self._server_seconds(slug)
        completed = sum(r["stats"]["completed"] for r in results)
        if completed != runs * steps:
            raise RuntimeError(f"{slug}: workers completed {completed} tasks, expected {runs * steps}")
        return {
            "seconds": seconds,
            "tasks_per_s": runs * steps / seconds,
            "runs_per_s": runs / seconds,
            "worker_peak_rss_mb": max(r["rss_mb"] or 0 for r in results),
            "worker_cpu_ms_per_task": sum(r["cpu_s"] for r in results) * 1000 / (runs * steps),
            "server_cpu_ms_per_task": None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) * 1000 / (runs * steps),
        }

    # -- floor (scenario 5) ------------------------------------------------------------------

    def floor(self, n: int, k: int, batch: int = 10) -> dict[str, Any]:
        queue = self._slug("floor")
        self.conn.execute("select pgmq.create(%s)", (queue,))
        try:
            t0 = time.monotonic()
            self.conn.execute(
                """
                select count(*) from pgmq.send_batch(%(q)s, array(
                    select jsonb_build_object(
                        'flow_slug', %(q)s::text, 'run_id', gen_random_uuid(), 'step_slug', 'only', 'task_index', 0
                    )
                    from generate_series(1, %(n)s)
                ))
                """,
                {"q": queue, "n": n},
            )
            send_s = time.monotonic() - t0
            self.conn.execute(f"analyze pgmq.{pgsql.Identifier('q_' + queue).as_string(self.conn)}")
            group = _spawn(k, _floor_proc, lambda g, i: (self.dsn, queue, batch, g.ready[i], g.go, g.out))
            try:
                released = group.release()
                results = group.results()
            finally:
                group.kill()
        finally:
            self.conn.execute("select pgmq.drop_queue(%s)", (queue,))
        got = sum(r["n"] for r in results)
        if got != n:
            raise RuntimeError(f"floor: drained {got} messages, expected {n}")
        seconds = max(r["t1"] for r in results) - released
        return {"seconds": seconds, "msgs_per_s": n / seconds, "send_msgs_per_s": n / send_s}

    def select1(self, k: int) -> dict[str, Any]:
        secs = self.sizes.select1_seconds
        group = _spawn(k, _select1_proc, lambda g, i: (self.dsn, secs, g.ready[i], g.go, g.out))
        try:
            group.release()
            results = group.results()
        finally:
            group.kill()
        t0 = min(r["t0"] for r in results)
        t1 = max(r["t1"] for r in results)
        return {"round_trips_per_s": sum(r["n"] for r in results) / (t1 - t0)}

    # -- scenario 3 --------------------------------------------------------------------------

    def big_map(self, size: int, k: int) -> dict[str, Any]:
        with self._flow("map", f"map{k}") as slug:
            group = _workers(self.dsn, k, "map", slug, self.worker_options)
            try:
                group.release()
                group.wait_running()
                listen = psycopg.connect(self.dsn, autocommit=True)
                try:
                    listen.execute("listen pgflow")
                    run_id = str(uuid.uuid4())
                    t0 = time.monotonic()
                    self.conn.execute(
                        "select pgflow.start_flow(flow_slug => %s, input => "
                        "(select jsonb_agg(i) from generate_series(0, %s - 1) as i), run_id => %s)",
                        (slug, size, run_id),
                    )
                    t_started = time.monotonic()
                    status = None
                    for note in listen.notifies(timeout=600):
                        ev = json.loads(note.payload)
                        if ev.get("run_id") == run_id and ev.get("event") in ("run:completed", "run:failed"):
                            status = ev["event"]
                            break
                    t1 = time.monotonic()
                finally:
                    listen.close()
                results = self._stop(group)
            finally:
                group.kill()
            # Untimed: statistics of the populated tables, as a server in use has them (the next
            # runs' sessions plan with them; autovacuum would get there within a minute or so)
            self.conn.execute("analyze pgflow.runs, pgflow.step_states, pgflow.step_tasks")
        if status != "run:completed":
            raise RuntimeError(f"{slug}: the map run ended with {status}")
        completed = sum(r["stats"]["completed"] for r in results)
        if completed != size + 1:
            raise RuntimeError(f"{slug}: workers completed {completed} tasks, expected {size + 1}")
        return {
            "seconds": t1 - t0,
            "start_flow_s": t_started - t0,
            "tasks_per_s": (size + 1) / (t1 - t0),
            "worker_peak_rss_mb": max(r["rss_mb"] or 0 for r in results),
        }

    def final_aggregation(self, size: int) -> float:
        """The complete_task call that completes a map of ``size`` tasks: the other tasks are
        completed by direct table writes, then the last one goes through complete_task."""
        with self._flow("map", "agg") as slug:
            run_id = str(uuid.uuid4())
            wid = str(uuid.uuid4())
            c = self.conn
            c.execute(
                "select pgflow.start_flow(flow_slug => %s, input => "
                "(select jsonb_agg(i) from generate_series(0, %s - 1) as i), run_id => %s)",
                (slug, size, run_id),
            )
            c.execute(
                "insert into pgflow.workers (worker_id, queue_name, function_name) values (%s, %s, 'bench')",
                (wid, slug),
            )
            c.execute(
                """
                update pgflow.step_tasks as t
                set status = 'completed', attempts_count = 1, started_at = now(), completed_at = now(),
                    output = to_jsonb(t.task_index), last_worker_id = %(w)s
                where t.run_id = %(r)s and t.step_slug = 'each' and t.task_index < %(n)s - 1
                """,
                {"r": run_id, "n": size, "w": wid},
            )
            c.execute(
                "update pgflow.step_states as ss set remaining_tasks = 1 "
                "where ss.run_id = %s and ss.step_slug = 'each'",
                (run_id,),
            )
            c.execute(
                "update pgflow.step_tasks as t set status = 'started', attempts_count = 1, started_at = now(), "
                "last_worker_id = %(w)s where t.run_id = %(r)s and t.step_slug = 'each' and t.task_index = %(n)s - 1",
                {"r": run_id, "n": size, "w": wid},
            )
            c.execute("analyze pgflow.step_tasks")
            t0 = time.monotonic()
            c.execute(
                "select * from pgflow.complete_task(run_id => %s, step_slug => 'each', task_index => %s, "
                "output => %s::jsonb)",
                (run_id, size - 1, str(size - 1)),
            )
            took = time.monotonic() - t0
            row = c.execute(
                "select ss.status, jsonb_array_length(ss.output) from pgflow.step_states as ss "
                "where ss.run_id = %s and ss.step_slug = 'each'",
                (run_id,),
            ).fetchone()
            if row != ("completed", size):
                raise RuntimeError(f"final aggregation: map step ended as {row}")
        return took

    # -- scenario 4 --------------------------------------------------------------------------

    def latency(self, notify: bool) -> dict[str, Any]:
        n, rate = self.sizes.latency_runs, self.sizes.latency_rate
        with self._flow("latency", "lat_notify" if notify else "lat_poll") as slug:
            group = _workers(self.dsn, 1, "latency", slug, {**self.worker_options, "use_notify": notify})
            try:
                group.release()
                group.wait_running()
                time.sleep(0.5)  # let the worker settle into its idle wait
                committed: dict[str, float] = {}
                interval = 1.0 / rate
                next_at = time.monotonic()
                for _ in range(n):
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    next_at += interval
                    run_id = str(uuid.uuid4())
                    self.conn.execute(
                        "select pgflow.start_flow(flow_slug => %s, input => '{}'::jsonb, run_id => %s)", (slug, run_id)
                    )
                    committed[run_id] = time.monotonic()
                self._wait_runs_done(slug, n, group, timeout=120)
                self._stop(group)
            finally:
                group.kill()
            rows = self.conn.execute(
                "select r.run_id::text, (r.output -> 'only' ->> 't')::float8 from pgflow.runs as r "
                "where r.flow_slug = %s",
                (slug,),
            ).fetchall()
        lat = sorted((t - committed[rid]) * 1000 for rid, t in rows)
        return {
            "p50_ms": _pct(lat, 50),
            "p95_ms": _pct(lat, 95),
            "p99_ms": _pct(lat, 99),
            "min_ms": lat[0],
            "max_ms": lat[-1],
        }


def _pct(sorted_values: Sequence[float], p: float) -> float:
    """Percentile by linear interpolation between closest ranks."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


# --------------------------------------------------------------------------------------------
# Aggregation into rows
# --------------------------------------------------------------------------------------------


def _summary(samples: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Median, min and max of every numeric key over the samples."""
    med: dict[str, Any] = {}
    lo: dict[str, Any] = {}
    hi: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples if isinstance(s.get(key), int | float)]
        if values:
            med[key] = statistics.median(values)
            lo[key] = min(values)
            hi[key] = max(values)
    return med, lo, hi


def _row(
    scenario: str, workers: int | None, notify: bool | None, samples: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """One result row: the stable keys hold medians (None where not applicable); ``min`` and
    ``max`` hold the same figures' extremes; ``samples`` every run's figures."""
    med, lo, hi = _summary(samples)
    row: dict[str, Any] = {k: None for k in ROW_KEYS}
    row.update(scenario=scenario, workers=workers, notify=notify)
    for key, value in med.items():
        row[key] = value
    row["min"] = lo
    row["max"] = hi
    row["samples"] = samples
    row.update(extra)
    return row


def _with_floor(samples: list[dict[str, Any]], floors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pair run i of an engine figure with run i of its floor (interleaved, same conditions)."""
    out = []
    for s, f in zip(samples, floors, strict=True):
        s = dict(s)
        s["floor_msgs_per_s"] = f["msgs_per_s"]
        s["ratio_to_floor"] = s["tasks_per_s"] / f["msgs_per_s"]
        out.append(s)
    return out


def machine_info() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    mem_gb = None
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def postgres_info(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    row = conn.execute("select version(), current_setting('server_version')").fetchone()
    assert row is not None
    settings = {
        name: setting
        for name, setting in conn.execute(
            "select name, current_setting(name) from pg_settings "
            "where source not in ('default', 'override', 'client', 'session') "
            "and name not in ('port', 'unix_socket_directories', 'listen_addresses') order by name"
        )
    }
    pgmq = conn.execute(
        "select coalesce((select extversion from pg_extension where extname = 'pgmq'), 'bundled SQL')"
    ).fetchone()
    return {
        "version": row[0],
        "server_version": row[1],
        "non_default_settings": settings,
        "pgmq": pgmq[0] if pgmq else None,
    }


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


def _floor_row(k: int, floors: list[dict[str, Any]], messages: int, floor_of: str) -> dict[str, Any]:
    samples = [
        {"floor_msgs_per_s": f["msgs_per_s"], "seconds": f["seconds"], "send_msgs_per_s": f["send_msgs_per_s"]}
        for f in floors
    ]
    return _row("5", k, None, samples, messages=messages, floor_of=floor_of)


def run_benchmarks(
    dsn: str,
    scenarios: Sequence[str],
    sizes: Sizes,
    say: Callable[[str], None] = _say,
    postmaster_pid: int | None = None,
) -> dict[str, Any]:
    bench = Bench(dsn, sizes, postmaster_pid=postmaster_pid)
    rows: list[dict[str, Any]] = []
    reps = range(sizes.repeat)
    t_all = time.monotonic()
    try:
        if "1" in scenarios:
            for k in sizes.workers:
                samples, floors = [], []
                for i in reps:
                    s = bench.drain("single", sizes.runs, 1, k)
                    f = bench.floor(sizes.runs, k)
                    say(
                        f"[1] K={k} run {i + 1}/{sizes.repeat}: {s['tasks_per_s']:8.0f} tasks/s "
                        f"({s['seconds']:.2f} s, worker RSS {s['worker_peak_rss_mb']:.0f} MB); "
                        f"floor {f['msgs_per_s']:8.0f} msgs/s"
                    )
                    samples.append(s)
                    floors.append(f)
                rows.append(_row("1", k, True, _with_floor(samples, floors), tasks=sizes.runs))
                rows.append(_floor_row(k, floors, sizes.runs, "1"))
        if "2" in scenarios:
            k = max(sizes.workers)
            samples, floors = [], []
            for i in reps:
                s = bench.drain("chain", sizes.chain_runs, 5, k)
                f = bench.floor(sizes.chain_runs * 5, k)
                say(
                    f"[2] K={k} run {i + 1}/{sizes.repeat}: {s['tasks_per_s']:8.0f} tasks/s, "
                    f"{s['runs_per_s']:7.0f} runs/s ({s['seconds']:.2f} s); floor {f['msgs_per_s']:8.0f} msgs/s"
                )
                samples.append(s)
                floors.append(f)
            rows.append(_row("2", k, True, _with_floor(samples, floors), tasks=sizes.chain_runs * 5))
            rows.append(_floor_row(k, floors, sizes.chain_runs * 5, "2"))
        if "3" in scenarios:
            k = max(sizes.workers)
            samples, floors = [], []
            # One untimed run first: on a fresh database the worker sessions cache plans made while
            # step_tasks is nearly empty, until autovacuum analyzes it (up to a minute later).
            # The figures below are those of a server in use; the cold run is reported apart.
            cold = bench.big_map(sizes.map_size, k)
            say(f"[3] K={k} cold run (untimed warm-up): {cold['seconds']:.2f} s end to end")
            for i in reps:
                s = bench.big_map(sizes.map_size, k)
                s["final_aggregation_s"] = bench.final_aggregation(sizes.map_size)
                f = bench.floor(sizes.map_size + 1, k)
                say(
                    f"[3] K={k} run {i + 1}/{sizes.repeat}: {s['seconds']:.2f} s end to end, start_flow "
                    f"{s['start_flow_s']:.3f} s, final aggregation {s['final_aggregation_s']:.3f} s; "
                    f"floor {f['msgs_per_s']:8.0f} msgs/s"
                )
                samples.append(s)
                floors.append(f)
            rows.append(_row(
                "3", k, True, _with_floor(samples, floors), tasks=sizes.map_size + 1, cold_run_seconds=cold["seconds"]
            ))
            rows.append(_floor_row(k, floors, sizes.map_size + 1, "3"))
        if "4" in scenarios:
            for notify in (True, False):
                samples = []
                for i in reps:
                    s = bench.latency(notify)
                    say(
                        f"[4] notify={'on ' if notify else 'off'} run {i + 1}/{sizes.repeat}: "
                        f"p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms"
                    )
                    samples.append(s)
                rows.append(_row("4", 1, notify, samples, runs=sizes.latency_runs, rate_per_s=sizes.latency_rate))
        if "5" in scenarios:
            for k in sizes.workers:
                samples = []
                for i in reps:
                    s = bench.select1(k)
                    say(f"[5] select 1, K={k} run {i + 1}/{sizes.repeat}: {s['round_trips_per_s']:8.0f} round trips/s")
                    samples.append(s)
                rows.append(_row("5", k, None, samples, floor_of="select 1"))
            if "1" not in scenarios:  # the pgmq floor on its own
                for k in sizes.workers:
                    floors = []
                    for i in reps:
                        f = bench.floor(sizes.runs, k)
                        say(f"[5] pgmq K={k} run {i + 1}/{sizes.repeat}: {f['msgs_per_s']:8.0f} msgs/s")
                        floors.append(f)
                    rows.append(_floor_row(k, floors, sizes.runs, "pgmq"))
        info = postgres_info(bench.conn)
    finally:
        bench.close()
    return {
        "postgres": info,
        "sizes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in sizes.__dict__.items()},
        "rows": rows,
        "total_seconds": time.monotonic() - t_all,
    }


def _fmt(v: Any, digits: int = 0) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def _spread(row: dict[str, Any], key: str, digits: int = 0) -> str:
    if row.get(key) is None:
        return "-"
    lo, hi = row["min"].get(key), row["max"].get(key)
    if lo is None or hi is None or lo == hi:
        return _fmt(row[key], digits)
    return f"{_fmt(row[key], digits)} ({_fmt(lo, digits)}-{_fmt(hi, digits)})"


def format_table(result: dict[str, Any]) -> str:
    """A Markdown table: medians with (min-max) over the runs."""
    head = [
        "scenario", "K", "notify", "tasks/s", "floor msgs/s", "ratio", "p50 ms", "p95 ms", "p99 ms", "seconds", "notes",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in result["rows"]:
        notes = []
        if r["scenario"] == "1" and r.get("worker_peak_rss_mb") is not None:
            notes.append(f"{r['tasks']} runs; worker peak RSS {r['worker_peak_rss_mb']:.0f} MB")
        if r["scenario"] == "2":
            notes.append(f"{r['tasks'] // 5} runs x 5 steps; {_spread(r, 'runs_per_s')} runs/s")
        if r["scenario"] in ("1", "2") and r.get("worker_cpu_ms_per_task") is not None:
            server = r.get("server_cpu_ms_per_task")
            notes.append(
                "CPU per task: workers "
                + _fmt(r["worker_cpu_ms_per_task"], 3)
                + " ms"
                + ("" if server is None else ", PostgreSQL " + _fmt(server, 3) + " ms")
            )
        if r["scenario"] == "3":
            notes.append(
                f"map of {r['tasks'] - 1} + join; start_flow {_spread(r, 'start_flow_s', 3)} s; "
                f"final aggregation {_spread(r, 'final_aggregation_s', 3)} s; "
                f"cold first run {r['cold_run_seconds']:.1f} s"
            )
        if r["scenario"] == "4":
            notes.append(f"{r['runs']} runs at {r['rate_per_s']:g}/s, 1 idle worker")
        if r["scenario"] == "5":
            if r.get("floor_of") == "select 1":
                notes.append(f"select 1: {_spread(r, 'round_trips_per_s')} round trips/s")
            else:
                notes.append(
                    f"raw pgmq read+archive of {r['messages']} msgs (floor of scenario {r['floor_of']}); "
                    f"send_batch {_spread(r, 'send_msgs_per_s')} msgs/s"
                )
        digits_ratio = 2
        cells = [
            r["scenario"], _fmt(r["workers"]), _fmt(r["notify"]),
            _spread(r, "tasks_per_s"), _spread(r, "floor_msgs_per_s"), _spread(r, "ratio_to_floor", digits_ratio),
            _spread(r, "p50_ms", 1), _spread(r, "p95_ms", 1), _spread(r, "p99_ms", 1),
            _spread(r, "seconds", 2) if r["scenario"] in ("1", "2", "3") else "-", "; ".join(notes),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "sql").is_dir():
            return parent
    return Path.cwd()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pgflow.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", help="an existing database (migrated here if needed); default: a throwaway server")
    p.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    p.add_argument("--scenarios", default="1,2,3,4,5", help="comma-separated subset of 1,2,3,4,5")
    p.add_argument("--json", type=Path, help="where to write the JSON (default: bench-results.json at the repo root)")
    p.add_argument("--durable", action="store_true", help="embedded server with fsync/synchronous_commit on")
    p.add_argument("--repeat", type=int, help="runs per figure (default 3)")
    p.add_argument("--workers", help="worker counts for scenario 1, e.g. 1,2,4 (the largest is used by 2 and 3)")
    p.add_argument("--runs", type=int, help="runs of scenario 1 (default 5000)")
    p.add_argument("--chain-runs", type=int, help="runs of scenario 2 (default 1000)")
    p.add_argument("--map-size", type=int, help="map elements of scenario 3 (default 10000)")
    p.add_argument("--latency-runs", type=int, help="runs of scenario 4 (default 200)")
    p.add_argument("--latency-rate", type=float, help="runs/s of scenario 4 (default 20)")
    p.add_argument("--select1-seconds", type=float, help="duration of the select 1 loop (default 2)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    for name in ("repeat", "runs", "chain_runs", "map_size", "latency_runs", "latency_rate", "select1_seconds"):
        value = getattr(args, name)
        if value is not None:
            setattr(sizes, name, value)
    if args.workers:
        sizes.workers = tuple(int(x) for x in args.workers.split(","))
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    bad = [s for s in scenarios if s not in ("1", "2", "3", "4", "5")]
    if bad:
        build_parser().error(f"unknown scenario(s): {', '.join(bad)}")

    from pgflow import migrator

    machine = machine_info()
    pg = None
    try:
        if args.dsn:
            dsn = args.dsn
            server = "given DSN"
        else:
            from pgflow.embedded import EmbeddedPostgres

            pg = EmbeddedPostgres(fast=not args.durable).start()
            pg.wait_ready()
            dsn = pg.dsn
            server = "embedded (fsync=off, synchronous_commit=off, full_page_writes=off)" if not args.durable else (
                "embedded (durable defaults)"
            )
            _say(f"started a throwaway PostgreSQL on 127.0.0.1:{pg.port}")
        migrator.migrate(dsn)
        _say(f"benchmarking scenarios {','.join(scenarios)} ({'quick' if args.quick else 'full'} sizes), "
             f"load average {os.getloadavg()[0]:.2f}")
        result = run_benchmarks(dsn, scenarios, sizes, postmaster_pid=None if pg is None else pg.postmaster_pid())
    finally:
        if pg is not None:
            pg.stop()
    machine["loadavg_at_end"] = list(os.getloadavg())
    result = {"machine": machine, "server": server, **result}
    table = format_table(result)
    result["table_markdown"] = table
    path = args.json or _repo_root() / "bench-results.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(table)
    print(
        f"\nmachine: {machine['cpu_count']} x {machine['cpu_model']}, {machine['memory_gb']} GB; "
        f"PostgreSQL {result['postgres']['server_version']} ({server}); load average "
        f"{machine['loadavg_at_start'][0]:.2f} at start, {machine['loadavg_at_end'][0]:.2f} at end"
    )
    _say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
