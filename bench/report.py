"""Results: rows of medians with their min and max, the Markdown table, and the facts about the
machine and the server that a figure needs beside it."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
from typing import Any

import psycopg

ROW_KEYS = (
    "scenario", "workers", "notify", "tasks_per_s", "floor_msgs_per_s", "ratio_to_floor",
    "p50_ms", "p95_ms", "p99_ms", "seconds",
)
FIGURES = ("tasks_per_s", "floor_msgs_per_s", "ratio_to_floor", "p50_ms", "p95_ms", "p99_ms", "seconds")


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


def result_row(
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


def with_floor(samples: list[dict[str, Any]], floors: list[dict[str, Any]]) -> list[dict[str, Any]]:
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



def floor_row(k: int, floors: list[dict[str, Any]], messages: int, floor_of: str) -> dict[str, Any]:
    samples = [
        {"floor_msgs_per_s": f["msgs_per_s"], "seconds": f["seconds"], "send_msgs_per_s": f["send_msgs_per_s"]}
        for f in floors
    ]
    return result_row("5", k, None, samples, messages=messages, floor_of=floor_of)


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


def markdown_table(result: dict[str, Any]) -> str:
    """A Markdown table: medians with (min-max) over the runs."""
    head = [
        "scenario", "K", "notify", "tasks/s", "floor msgs/s", "ratio", "p50 ms", "p95 ms", "p99 ms", "seconds", "notes",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in result["rows"]:
        notes = []
        if r.get("database"):  # scenario 1 with --history
            notes.append(f"database {r['database']}")
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
        if r["scenario"] == "6":
            notes.append(f"contract path ({r['flow']}): read, start_tasks, one complete_task per task")
            if r.get("start_flow_runs_per_s") is not None:
                notes.append(
                    f"start_flow one call each: {_spread(r, 'start_flow_runs_per_s')} runs/s, PostgreSQL CPU "
                    f"{_spread(r, 'start_flow_server_cpu_ms', 3)} ms per run"
                )
            if r.get("server_cpu_ms_per_task") is not None:
                notes.append(f"PostgreSQL CPU per task {_fmt(r['server_cpu_ms_per_task'], 3)} ms")
        if r["scenario"] == "7":
            notes.append(
                f"{r['flow']} with {r['history']:,} finished tasks in the tables: "
                f"{_spread(r, 'history_over_empty', 2)}x of an empty database "
                f"({_spread(r, 'empty_tasks_per_s')} tasks/s)"
            )
        digits_ratio = 3
        cells = [
            r["scenario"], _fmt(r["workers"]), _fmt(r["notify"]),
            _spread(r, "tasks_per_s"), _spread(r, "floor_msgs_per_s"), _spread(r, "ratio_to_floor", digits_ratio),
            _spread(r, "p50_ms", 1), _spread(r, "p95_ms", 1), _spread(r, "p99_ms", 1),
            _spread(r, "seconds", 2) if r["scenario"] in ("1", "2", "3", "6", "7") else "-", "; ".join(notes),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
