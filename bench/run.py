"""Orchestration: which scenarios run in which order, and the command line (``python -m bench``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.report import floor_row, machine_info, markdown_table, postgres_info, result_row, with_floor
from bench.scenarios import Bench, Sizes


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


TITLES = {
    "1": "single-step flow, drained by K worker processes",
    "2": "5-step chain",
    "3": "root map then a join",
    "4": "start -> handler latency, one idle worker",
    "5": "floors: select 1 round trips and raw pgmq",
    "6": "the contract path: start_tasks and one complete_task per task",
    "7": "scenarios 1 and 2 with a long history of finished runs",
}


def _started(say: Callable[[str], None], number: str) -> float:
    """Announce a scenario as it starts; returns the time for :func:`_done`."""
    say(f"[{number}] scenario {number} ({TITLES[number]}): started")
    return time.monotonic()


def _done(say: Callable[[str], None], number: str, began: float) -> None:
    say(f"[{number}] scenario {number}: done in {time.monotonic() - began:.1f} s")


def run_benchmarks(
    dsn: str,
    scenarios: Sequence[str],
    sizes: Sizes,
    say: Callable[[str], None] = _say,
    postmaster_pid: int | None = None,
    pruned_history: int | None = None,
) -> dict[str, Any]:
    bench = Bench(dsn, sizes, postmaster_pid=postmaster_pid)
    rows: list[dict[str, Any]] = []
    reps = range(sizes.repeat)
    t_all = time.monotonic()
    try:
        if "1" in scenarios and pruned_history:  # scenario 1: empty vs pruned history, rounds interleaved
            from bench.pruned_history import run_history

            rows.extend(run_history(dsn, sizes, pruned_history, say, postmaster_pid))
        elif "1" in scenarios:
            began = _started(say, "1")
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
                rows.append(result_row("1", k, True, with_floor(samples, floors), tasks=sizes.runs))
                rows.append(floor_row(k, floors, sizes.runs, "1"))
            _done(say, "1", began)
        if "2" in scenarios:
            began = _started(say, "2")
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
            rows.append(result_row("2", k, True, with_floor(samples, floors), tasks=sizes.chain_runs * 5))
            rows.append(floor_row(k, floors, sizes.chain_runs * 5, "2"))
            _done(say, "2", began)
        if "3" in scenarios:
            began = _started(say, "3")
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
            rows.append(result_row(
                "3", k, True, with_floor(samples, floors), tasks=sizes.map_size + 1, cold_run_seconds=cold["seconds"]
            ))
            rows.append(floor_row(k, floors, sizes.map_size + 1, "3"))
            _done(say, "3", began)
        if "4" in scenarios:
            began = _started(say, "4")
            for notify in (True, False):
                samples = []
                for i in reps:
                    s = bench.latency(notify)
                    say(
                        f"[4] notify={'on ' if notify else 'off'} run {i + 1}/{sizes.repeat}: "
                        f"p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms"
                    )
                    samples.append(s)
                rows.append(result_row("4", 1, notify, samples, runs=sizes.latency_runs, rate_per_s=sizes.latency_rate))
            _done(say, "4", began)
        if "5" in scenarios:
            began = _started(say, "5")
            for k in sizes.workers:
                samples = []
                for i in reps:
                    s = bench.select1(k)
                    say(f"[5] select 1, K={k} run {i + 1}/{sizes.repeat}: {s['round_trips_per_s']:8.0f} round trips/s")
                    samples.append(s)
                rows.append(result_row("5", k, None, samples, floor_of="select 1"))
            if "1" not in scenarios:  # the pgmq floor on its own
                for k in sizes.workers:
                    floors = []
                    for i in reps:
                        f = bench.floor(sizes.runs, k)
                        say(f"[5] pgmq K={k} run {i + 1}/{sizes.repeat}: {f['msgs_per_s']:8.0f} msgs/s")
                        floors.append(f)
                    rows.append(floor_row(k, floors, sizes.runs, "pgmq"))
            _done(say, "5", began)
        if "6" in scenarios:
            began = _started(say, "6")
            rows.extend(_contract_rows(bench, sizes, say))
            _done(say, "6", began)
        if "7" in scenarios:
            began = _started(say, "7")
            rows.extend(_history_rows(bench, sizes, say))
            _done(say, "7", began)
        info = postgres_info(bench.conn)
    finally:
        bench.close()
    return {
        "postgres": info,
        "sizes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in sizes.__dict__.items()},
        "rows": rows,
        "total_seconds": time.monotonic() - t_all,
    }


def _contract_rows(bench: Bench, sizes: Sizes, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Scenario 6: the contract path (pgmq.read, start_tasks, one complete_task per task)."""
    from bench.contract import contract_drain

    rows: list[dict[str, Any]] = []
    cases = [("single", sizes.runs, 1), ("chain", sizes.chain_runs, 5), ("map", 1, sizes.contract_map_size + 1)]
    for kind, runs, steps in cases:
        for k in [w for w in sizes.workers if w > 1] or list(sizes.workers):
            samples, floors = [], []
            for i in range(sizes.repeat):
                s = contract_drain(bench, kind, runs, k, map_size=sizes.contract_map_size)
                f = bench.floor(runs * steps, k)
                say(
                    f"[6] {kind} K={k} run {i + 1}/{sizes.repeat}: {s['tasks_per_s']:8.0f} tasks/s "
                    f"({s['seconds']:.2f} s); floor {f['msgs_per_s']:8.0f} msgs/s"
                )
                samples.append(s)
                floors.append(f)
            rows.append(result_row("6", k, None, with_floor(samples, floors), tasks=runs * steps, flow=kind))
    return rows


def _history_rows(bench: Bench, sizes: Sizes, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Scenario 7: scenarios 1 and 2 on an empty database and on one with a long history."""
    from bench.history import create_history_database

    say(f"[7] loading a history of {sizes.history:,} finished tasks into a second database")
    old = Bench(create_history_database(bench.dsn, sizes.history), sizes, postmaster_pid=bench.postmaster_pid)
    rows: list[dict[str, Any]] = []
    k = max(sizes.workers)
    try:
        for kind, runs, steps in (("single", sizes.runs, 1), ("chain", sizes.chain_runs, 5)):
            samples = []
            for i in range(sizes.repeat):
                empty = bench.drain(kind, runs, steps, k)
                full = old.drain(kind, runs, steps, k)
                say(
                    f"[7] {kind} K={k} run {i + 1}/{sizes.repeat}: empty {empty['tasks_per_s']:8.0f}, with history "
                    f"{full['tasks_per_s']:8.0f} tasks/s ({full['tasks_per_s'] / empty['tasks_per_s']:.2f}x)"
                )
                samples.append({
                    "tasks_per_s": full["tasks_per_s"],
                    "empty_tasks_per_s": empty["tasks_per_s"],
                    "history_over_empty": full["tasks_per_s"] / empty["tasks_per_s"],
                    "seconds": full["seconds"],
                })
            rows.append(result_row("7", k, True, samples, tasks=runs * steps, flow=kind, history=sizes.history))
    finally:
        old.close()
    return rows


REPO_ROOT = Path(__file__).resolve().parent.parent  # bench/ sits at the repository root


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench", description="pgflow-py's throughput and latency against the raw pgmq floor."
    )
    p.add_argument("--dsn", help="an existing database (migrated here if needed); default: a throwaway server")
    p.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    p.add_argument("--scenarios", default="1,2,3,4,5,6,7", help="comma-separated subset of 1,2,3,4,5,6,7")
    p.add_argument("--json", type=Path, help="where to write the JSON (default: bench-results.json at the repo root)")
    p.add_argument(
        "--fast", action="store_true",
        help="embedded server with fsync, synchronous_commit and full_page_writes off (default: durable settings)",
    )
    p.add_argument("--durable", action="store_true", help="the default; kept for older command lines")
    p.add_argument(
        "--server-pid", type=int,
        help="with --dsn on this machine: the postmaster's pid, for PostgreSQL's CPU figures",
    )
    p.add_argument("--history", type=int, help="finished tasks in scenario 7's history database (default 1000000)")
    p.add_argument("--contract-map-size", type=int, help="map elements of scenario 6 (default 2000)")
    p.add_argument("--repeat", type=int, help="runs per figure (default 3)")
    p.add_argument("--workers", help="worker counts for scenario 1, e.g. 1,2,4 (the largest is used by 2 and 3)")
    p.add_argument("--runs", type=int, help="runs of scenario 1 (default 5000)")
    p.add_argument("--chain-runs", type=int, help="runs of scenario 2 (default 1000)")
    p.add_argument("--map-size", type=int, help="map elements of scenario 3 (default 10000)")
    p.add_argument("--latency-runs", type=int, help="runs of scenario 4 (default 200)")
    p.add_argument("--latency-rate", type=float, help="runs/s of scenario 4 (default 20)")
    p.add_argument("--select1-seconds", type=float, help="duration of the select 1 loop (default 2)")
    p.add_argument("--pruned-history", type=int, metavar="TASKS",
                   help="scenario 1 on an empty database and on one pre-filled with TASKS finished tasks "
                        "(past week) and pruned to the last hour, rounds interleaved (see bench/pruned_history.py)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    for name in (
        "repeat", "runs", "chain_runs", "map_size", "latency_runs", "latency_rate", "select1_seconds", "history",
        "contract_map_size",
    ):
        value = getattr(args, name)
        if value is not None:
            setattr(sizes, name, value)
    if args.workers:
        sizes.workers = tuple(int(x) for x in args.workers.split(","))
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    bad = [s for s in scenarios if s not in ("1", "2", "3", "4", "5", "6", "7")]
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

            pg = EmbeddedPostgres(fast=args.fast).start()
            pg.wait_ready()
            dsn = pg.dsn
            server = "embedded (fsync=off, synchronous_commit=off, full_page_writes=off)" if args.fast else (
                "embedded (durable: fsync, synchronous_commit and full_page_writes on)"
            )
            _say(f"started a throwaway PostgreSQL on 127.0.0.1:{pg.port}")
        migrator.migrate(dsn, progress=_say)
        _say(f"benchmarking scenarios {','.join(scenarios)} ({'quick' if args.quick else 'full'} sizes), "
             f"load average {os.getloadavg()[0]:.2f}")
        server_pid = args.server_pid if pg is None else pg.postmaster_pid()
        result = run_benchmarks(dsn, scenarios, sizes, postmaster_pid=server_pid, pruned_history=args.pruned_history)
    finally:
        if pg is not None:
            pg.stop()
    machine["loadavg_at_end"] = list(os.getloadavg())
    result = {"machine": machine, "server": server, **result}
    table = markdown_table(result)
    result["table_markdown"] = table
    path = args.json or REPO_ROOT / "bench-results.json"
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
