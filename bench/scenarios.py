"""The measurements: one method of :class:`Bench` per scenario, each creating its own flow
(slug ``bench_*``) and dropping it afterwards, and the sizes they run at."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql as pgsql

from bench.flows import build_flow
from bench.processes import ProcessGroup, floor_process, select1_process, server_cpu_s, spawn_group, spawn_workers


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
    history: int = 1_000_000  # finished tasks in the history database of scenario 7
    contract_map_size: int = 2000  # map of scenario 6 (one complete_task transaction per task)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            runs=1000, chain_runs=200, map_size=2000, latency_runs=40, latency_rate=20.0,
            select1_seconds=0.5, workers=(1, 4), repeat=3, history=50_000, contract_map_size=500,
        )


class Bench:
    """The scenarios against one database, on one connection of the parent process."""

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

    def _wait_runs_done(self, slug: str, n: int, group: ProcessGroup, timeout: float = 600) -> None:
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

    def _stop(self, group: ProcessGroup) -> list[dict[str, Any]]:
        group.stop.set()
        try:
            return group.results()
        finally:
            group.kill()

    # -- engine throughput (scenarios 1 and 2) -----------------------------------------------

    def drain(self, kind: str, runs: int, steps: int, k: int) -> dict[str, Any]:
        with self._flow(kind, f"{kind}{k}") as slug:
            self._start_runs(slug, runs)
            group = spawn_workers(self.dsn, k, kind, slug, self.worker_options)
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
            group = spawn_group(k, floor_process, lambda g, i: (self.dsn, queue, batch, g.ready[i], g.go, g.out))
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
        group = spawn_group(k, select1_process, lambda g, i: (self.dsn, secs, g.ready[i], g.go, g.out))
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
            group = spawn_workers(self.dsn, k, "map", slug, self.worker_options)
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
            group = spawn_workers(self.dsn, 1, "latency", slug, {**self.worker_options, "use_notify": notify})
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
            "p50_ms": percentile(lat, 50),
            "p95_ms": percentile(lat, 95),
            "p99_ms": percentile(lat, 99),
            "min_ms": lat[0],
            "max_ms": lat[-1],
        }


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Percentile by linear interpolation between closest ranks."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)
