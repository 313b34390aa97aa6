"""Child processes of the benchmark (pgflow workers, raw pgmq consumers, ``select 1`` loops),
started K at a time and released together, and the CPU and memory probes they report with."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.flows import build_flow

_CTX = mp.get_context("spawn")  # no fork of a process holding connections or threads


def process_cpu_s() -> float:
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


def peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_process(
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
        at_start.append(process_cpu_s())  # imports, connections and registration are not the drain's
        running.set()
        await run

    at_start: list[float] = []
    try:
        asyncio.run(main())
        total = process_cpu_s()
        out.put({
            "kind": "worker",
            "stats": dict(worker.stats),
            "rss_mb": peak_rss_mb(),
            "cpu_s": total - (at_start[0] if at_start else 0.0),
        })
    except BaseException as exc:
        out.put({"kind": "worker", "error": repr(exc)})
        raise


def floor_process(dsn: str, queue: str, batch: int, ready: Any, go: Any, out: Any) -> None:
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


def select1_process(dsn: str, seconds: float, ready: Any, go: Any, out: Any) -> None:
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
class ProcessGroup:
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


def spawn_group(
    k: int, target: Callable[..., None], args_for: Callable[[ProcessGroup, int], tuple[Any, ...]]
) -> ProcessGroup:
    g = ProcessGroup(go=_CTX.Event(), stop=_CTX.Event(), out=_CTX.Queue())
    for i in range(k):
        g.ready.append(_CTX.Event())
        g.running.append(_CTX.Event())
        p = _CTX.Process(target=target, args=args_for(g, i), daemon=True)
        p.start()
        g.procs.append(p)
    return g


def spawn_workers(dsn: str, k: int, kind: str, slug: str, options: dict[str, Any]) -> ProcessGroup:
    return spawn_group(
        k,
        worker_process,
        lambda g, i: (dsn, kind, slug, options, g.ready[i], g.go, g.running[i], g.stop, g.out),
    )
