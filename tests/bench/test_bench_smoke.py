"""The benchmark harness runs end to end with tiny sizes and writes the JSON it promises.

Benchmarks are not tests: nothing here looks at a wall-clock figure, only at behaviour (every
scenario ran, every run was drained, the floor was measured beside each engine figure) and at
the shape of bench-results.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import bench

TINY = [
    "--runs", "20", "--chain-runs", "4", "--map-size", "30", "--latency-runs", "3", "--latency-rate", "50",
    "--select1-seconds", "0.05", "--repeat", "1", "--workers", "1,2", "--history", "300",
    "--contract-map-size", "10",
]


def test_every_scenario_produces_rows_with_the_stable_keys(db_dsn: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.json"
    assert bench.main(["--dsn", db_dsn, "--json", str(out), *TINY]) == 0

    result = json.loads(out.read_text(encoding="utf-8"))
    assert {"cpu_count", "cpu_model", "memory_gb", "loadavg_at_start", "loadavg_at_end"} <= set(result["machine"])
    assert result["postgres"]["server_version"]
    assert isinstance(result["postgres"]["non_default_settings"], dict)

    rows = result["rows"]
    for row in rows:
        assert set(bench.ROW_KEYS) <= set(row), row
        assert row["scenario"] in {"1", "2", "3", "4", "5", "6", "7"}
        for key in bench.FIGURES:  # a figure is a number (median) or null where not applicable
            assert row[key] is None or isinstance(row[key], int | float)
            if row[key] is not None:
                assert row["min"][key] <= row[key] <= row["max"][key]
        assert len(row["samples"]) == 1

    by = {(r["scenario"], r["workers"], r["notify"], r.get("floor_of")): r for r in rows}
    for k in (1, 2):
        engine = by[("1", k, True, None)]
        assert engine["tasks_per_s"] > 0 and engine["floor_msgs_per_s"] > 0
        assert engine["ratio_to_floor"] == engine["tasks_per_s"] / engine["floor_msgs_per_s"]
        assert engine["worker_peak_rss_mb"] > 0
        assert by[("5", k, None, "1")]["floor_msgs_per_s"] == engine["floor_msgs_per_s"]
        assert by[("5", k, None, "select 1")]["round_trips_per_s"] > 0
    chain = by[("2", 2, True, None)]
    assert chain["tasks"] == 20 and chain["runs_per_s"] > 0
    big = by[("3", 2, True, None)]
    assert big["tasks"] == 31
    assert 0 < big["start_flow_s"] <= big["seconds"] and big["final_aggregation_s"] > 0
    assert big["cold_run_seconds"] > 0
    for notify in (True, False):
        lat = by[("4", 1, notify, None)]
        assert lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"]
        assert lat["tasks_per_s"] is None and lat["seconds"] is None

    contract = {r["flow"]: r for r in rows if r["scenario"] == "6"}
    assert set(contract) == {"single", "chain", "map"}
    assert contract["single"]["tasks"] == 20 and contract["chain"]["tasks"] == 20 and contract["map"]["tasks"] == 11
    for row in contract.values():
        assert row["workers"] == 2 and row["tasks_per_s"] > 0 and row["ratio_to_floor"] > 0
    assert contract["single"]["start_flow_runs_per_s"] > 0
    history = {r["flow"]: r for r in rows if r["scenario"] == "7"}
    assert set(history) == {"single", "chain"}
    for row in history.values():
        assert row["history"] == 300 and row["history_over_empty"] > 0 and row["empty_tasks_per_s"] > 0

    captured = capsys.readouterr()
    printed = captured.out
    # progress on stderr: each scenario announced as it starts and as it ends, in order
    marks = re.findall(r"^\[(\d)\] scenario \d(?: \(.+\))?: (started|done in \d+\.\d s)$", captured.err, re.M)
    assert [(n, "started" if what == "started" else "done") for n, what in marks] == [
        (n, what) for n in "1234567" for what in ("started", "done")
    ], captured.err
    assert printed.startswith("| scenario |") and result["table_markdown"] in printed

    with __import__("psycopg").connect(db_dsn) as conn:  # the benchmark's flows are gone
        assert conn.execute("select count(*) from pgflow.flows where flow_slug like 'bench_%'").fetchone() == (0,)
