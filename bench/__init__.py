"""Benchmarks: pgflow-py's throughput and latency against the raw pgmq floor on the same server.

    python -m bench [--dsn URL] [--quick] [--scenarios 1,2,...] [--json PATH]

Without ``--dsn`` a throwaway PostgreSQL is started (:class:`pgflow.embedded.EmbeddedPostgres`)
with PostgreSQL's durable defaults (fsync, synchronous_commit and full_page_writes on), as a
production server runs; ``--fast`` turns the three off (the harness's default before issue 20).
With ``--dsn`` the database is migrated if needed and the benchmark's flows (slugs ``bench_*``)
are deleted afterwards.

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
6. the contract path (bench.contract): K = 2, 4 emulated workers doing what pgflow's TypeScript
   worker does (``pgmq.read`` of 10, ``start_tasks``, one ``complete_task`` transaction per task)
   on a single-step flow, a 5-step chain and a map of ``--contract-map-size`` (2,000) + join; and
   ``start_flow`` one call per run (runs/s, PostgreSQL CPU per run).
7. long histories (bench.history): scenarios 1 and 2 at the largest K on an empty database and,
   interleaved, on one holding ``--history`` (1,000,000) finished tasks: history / empty.

Engine throughput is timed from the first task started (min ``step_tasks.started_at``) to the
last run completed (max ``runs.completed_at``), on the server's clock; the floor from the
release of its processes to the last of them finding the queue empty. Each engine figure is
also given as a ratio to its floor (tasks/s / raw pgmq msgs/s, same K, same message count).

Results: a table on stdout, progress on stderr, JSON in ``bench-results.json`` at the
repository root (or ``--json PATH``). Benchmarks are not tests: tests/bench/ only checks the
shape of the JSON with tiny sizes.

A developer tool, not part of the installed package (``make bench`` runs it from a checkout).
Modules: flows (the benchmark flows), processes (child processes and probes), scenarios (one
method per measurement), contract and history (scenarios 6 and 7), report (rows, medians, the
Markdown table, machine and server facts), run (orchestration and the command line), costs
(``python -m bench.costs``: statements, row writes, WAL and buffers per contract call; a separate
command, not a scenario), contention (``python -m bench.contention``: wait events while draining),
worker_profile (``python -m bench.worker_profile``: one worker's CPU per task and a profile of it).
"""

from __future__ import annotations

from bench.report import FIGURES, ROW_KEYS
from bench.run import main, run_benchmarks

__all__ = ["FIGURES", "ROW_KEYS", "main", "run_benchmarks"]
