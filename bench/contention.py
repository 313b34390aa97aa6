"""Is scenario 1 at K = 4 slower than at K = 2 because of the machine or of the engine?

    python -m bench.contention [--runs N] [--workers 2,4] [--repeat N] [--fast] [--dsn URL]

Drains scenario 1 (single-step flow, ``pgflow.worker.Worker`` processes; or, with ``--path
contract``, scenario 6's emulated contract-path workers) at each K while a sampler thread
records, every few milliseconds, what the workers' backends are doing
(pg_stat_activity: on CPU or runnable, waiting for a lock and which, for an LWLock, for I/O, for
the client inside a transaction, idle) and how many processes the kernel has runnable
(``procs_running`` in /proc/stat) against the CPUs there are. Engine contention shows up as lock
waits; a machine with more runnable processes than CPUs shows up as procs_running above the CPU
count, with backends "active" but no wait event (runnable, waiting for a CPU) and backends idle
in transaction while their worker process waits for a CPU. ``Lock: object`` is the lock a
transaction that sent a NOTIFY takes at commit and holds until its commit is flushed (PostgreSQL
serializes notifying commits to keep the notification queue in commit order).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg

from bench.scenarios import Bench, Sizes

SAMPLE = """
select
    coalesce(a.wait_event_type, case when a.state = 'active' then 'CPU' else a.state end) as what,
    coalesce(a.wait_event, '') as event,
    a.state
from pg_stat_activity as a
where a.backend_type = 'client backend' and a.pid <> pg_backend_pid() and a.datname = current_database()
"""
LOCKS = "select count(*) from pg_locks as l where not l.granted"


def procs_running() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if line.startswith("procs_running"):
                    return int(line.split()[1])
    return None


class Sampler(threading.Thread):
    def __init__(self, dsn: str, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.interval = interval
        self.stop = threading.Event()
        self.states: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self.ungranted = 0
        self.samples_with_lock_wait = 0
        self.running: list[int] = []

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                rows = conn.execute(SAMPLE).fetchall()
                self.samples += 1
                waiting = 0
                for what, event, state in rows:
                    if what == "Client" and state == "idle in transaction":
                        key = "client, idle in transaction"
                    elif what == "Client":
                        key = f"client ({state})"
                    else:
                        key = what + (f": {event}" if event else "")
                    self.states[key] += 1
                    waiting += what == "Lock"
                self.samples_with_lock_wait += waiting > 0
                row = conn.execute(LOCKS).fetchone()
                self.ungranted += int(row[0]) if row else 0
                r = procs_running()
                if r is not None:
                    self.running.append(r)
                time.sleep(self.interval)


@contextlib.contextmanager
def sampling(dsn: str) -> Iterator[Sampler]:
    s = Sampler(dsn)
    s.start()
    try:
        yield s
    finally:
        s.stop.set()
        s.join(10)


def measure(bench: Bench, k: int, runs: int, path: str = "worker") -> dict[str, Any]:
    from bench.contract import contract_drain

    with sampling(bench.dsn) as s:
        if path == "contract":
            result = contract_drain(bench, "single", runs, k)
            result["worker_cpu_ms_per_task"] = 0.0  # not measured for the emulated workers
        else:
            result = bench.drain("single", runs, 1, k)
    total = sum(s.states.values()) or 1
    return {
        "k": k,
        "tasks_per_s": result["tasks_per_s"],
        "samples": s.samples,
        "shares": {key: n / total for key, n in s.states.most_common()},
        "lock_wait_samples": s.samples_with_lock_wait / max(1, s.samples),
        "ungranted_per_sample": s.ungranted / max(1, s.samples),
        "procs_running": sum(s.running) / max(1, len(s.running)),
        "server_cpu_ms_per_task": result["server_cpu_ms_per_task"],
        "worker_cpu_ms_per_task": result["worker_cpu_ms_per_task"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.contention", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5000)
    p.add_argument("--workers", default="2,4")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--fast", action="store_true", help="fsync, synchronous_commit and full_page_writes off")
    p.add_argument("--dsn", help="an existing database (migrated if needed)")
    p.add_argument(
        "--path", choices=("worker", "contract"), default="worker",
        help="drain with pgflow.worker.Worker (scenario 1) or with emulated contract-path workers (scenario 6)",
    )
    args = p.parse_args(argv)
    from pgflow import migrator
    from pgflow.embedded import EmbeddedPostgres

    pg = None
    if args.dsn:
        dsn = args.dsn
    else:
        pg = EmbeddedPostgres(fast=args.fast).start()
        pg.wait_ready()
        dsn = pg.dsn
    try:
        migrator.migrate(dsn)
        bench = Bench(dsn, Sizes(), postmaster_pid=None if pg is None else pg.postmaster_pid())
        ks = [int(x) for x in args.workers.split(",")]
        out = []
        try:
            for i in range(args.repeat):
                for k in ks:
                    m = measure(bench, k, args.runs, args.path)
                    print(f"K={k} run {i + 1}: {m['tasks_per_s']:.0f} tasks/s", file=sys.stderr, flush=True)
                    out.append(m)
        finally:
            bench.close()
    finally:
        if pg is not None:
            pg.stop()
    print(f"CPUs: {os.cpu_count()}; load average at end {os.getloadavg()[0]:.2f}\n")
    print("| K | tasks/s | procs running (avg) | samples with a lock wait | ungranted locks per sample "
          "| PostgreSQL CPU ms/task | workers CPU ms/task | backends' states (share of backend samples) |")
    print("|---|---|---|---|---|---|---|---|")
    for m in out:
        states = ", ".join(f"{key} {share:.0%}" for key, share in list(m["shares"].items())[:7])
        print(
            f"| {m['k']} | {m['tasks_per_s']:,.0f} | {m['procs_running']:.1f} | {m['lock_wait_samples']:.1%} "
            f"| {m['ungranted_per_sample']:.2f} | {m['server_cpu_ms_per_task'] or 0:.3f} "
            f"| {m['worker_cpu_ms_per_task']:.3f} | {states} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
