"""Prometheus metrics of a real worker: read from its registry and from its HTTP endpoint after
runs; the queue depth gauge read from a queue with messages waiting."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from pgflow.client import AsyncPgflowSqlClient
from pgflow.dsl import Flow
from pgflow.types import RunStatus
from pgflow.worker import Worker
from pgflow.worker.metrics import QueueDepth, TaskMetrics
from tests.support.worker import FAST, running


def metrics_flow(slug: str) -> Flow:
    f = Flow(slug, max_attempts=1)

    @f.step("parse")
    async def parse(inp: dict[str, Any]) -> int:
        return int(inp["n"])

    @f.step("check", depends_on=["parse"])
    def check(deps: dict[str, Any]) -> int:
        if deps["parse"] < 0:
            raise ValueError("negative")
        return int(deps["parse"])

    return f


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_task_counters_and_durations_after_runs(db_dsn: str) -> None:
    registry = CollectorRegistry()
    worker = Worker(metrics_flow("m_flow"), db_dsn, **FAST, metrics_registry=registry, metrics_port=0)
    async with running(worker), await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        runs = [await client.start_flow("m_flow", {"n": n}) for n in (1, 2, -3)]
        states = [await client.wait_for_run(r.run_id, timeout=30) for r in runs]
        assert worker.metrics is not None and worker.metrics.port
        url = f"http://127.0.0.1:{worker.metrics.port}/metrics"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())
    assert [s.run.status for s in states] == [RunStatus.COMPLETED, RunStatus.COMPLETED, RunStatus.FAILED]

    assert sample(registry, "pgflow_tasks_completed_total", flow="m_flow", step="parse") == 3
    assert sample(registry, "pgflow_tasks_completed_total", flow="m_flow", step="check") == 2
    assert sample(registry, "pgflow_tasks_failed_total", flow="m_flow", step="check") == 1
    assert sample(registry, "pgflow_tasks_failed_total", flow="m_flow", step="parse") is None
    assert sample(registry, "pgflow_task_duration_seconds_count", flow="m_flow", step="check") == 3
    assert sample(registry, "pgflow_task_duration_seconds_sum", flow="m_flow", step="check") >= 0  # type: ignore[operator]
    assert sample(registry, "pgflow_queue_depth", flow="m_flow") is not None  # read once at start

    # the same numbers over HTTP
    assert 'pgflow_tasks_completed_total{flow="m_flow",step="check"} 2.0' in body
    assert 'pgflow_tasks_failed_total{flow="m_flow",step="check"} 1.0' in body
    assert 'pgflow_task_duration_seconds_count{flow="m_flow",step="parse"} 3.0' in body
    assert "# TYPE pgflow_queue_depth gauge" in body


async def test_queue_depth_counts_the_messages_of_each_flow(conn: psycopg.Connection, db_dsn: str) -> None:
    for slug in ("m_busy", "m_idle"):
        for statement in metrics_flow(slug).compile():
            conn.execute(statement)  # type: ignore[call-overload]
    for n in range(3):
        conn.execute("select pgflow.start_flow('m_busy', %s::jsonb)", (f'{{"n": {n}}}',))
    conn.commit()
    metrics = TaskMetrics()
    async with AsyncConnectionPool(db_dsn, min_size=1, max_size=1, open=False) as pool:
        await QueueDepth(pool, metrics, ["m_busy", "m_idle"]).refresh()
    assert sample(metrics.registry, "pgflow_queue_depth", flow="m_busy") == 3
    assert sample(metrics.registry, "pgflow_queue_depth", flow="m_idle") == 0


def test_metrics_port_is_validated() -> None:
    with pytest.raises(ValueError, match="metrics_port must be a TCP port"):
        Worker(metrics_flow("m_bad"), "postgresql://x@127.0.0.1:1/x", metrics_port=70000)
