"""Dead-worker recovery options (issue 21): the threshold's default and checks, the sweep's pace,
per-job intervals of the maintenance service, and `pgflow maintain`'s defaults, which must agree
with the worker's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pgflow.cli.commands import maintain
from pgflow.dsl import Flow
from pgflow.worker import Worker, WorkerOptions
from pgflow.worker import options as defaults
from pgflow.worker.services import Maintenance, MaintenanceJob


def a_flow() -> Flow:
    f = Flow("recovery_parts")

    @f.step("s")
    def s(x: Any) -> Any:
        return x

    return f


def test_dead_worker_timeout_defaults_to_three_heartbeat_intervals() -> None:
    o = Worker(a_flow(), "postgresql://unused").options
    assert o.recover_dead_workers is defaults.DEFAULT_RECOVER_DEAD_WORKERS is True
    assert defaults.DEFAULT_DEAD_WORKER_HEARTBEATS == 3
    assert o.dead_after == 3 * defaults.DEFAULT_HEARTBEAT_INTERVAL == 15.0
    assert WorkerOptions(heartbeat_interval=0.5).dead_after == 1.5
    assert WorkerOptions(heartbeat_interval=1, dead_worker_timeout=7).dead_after == 7


def test_dead_worker_sweep_runs_every_heartbeat_or_maintenance_interval_if_shorter() -> None:
    assert WorkerOptions().recovery_interval == defaults.DEFAULT_HEARTBEAT_INTERVAL
    assert WorkerOptions(heartbeat_interval=5, maintenance_interval=0.2).recovery_interval == 0.2


@pytest.mark.parametrize("timeout", [0, 1.0, 0.5])
def test_dead_worker_timeout_must_exceed_the_heartbeat_interval(timeout: float) -> None:
    with pytest.raises(ValueError, match=r"dead_worker_timeout must be longer than heartbeat_interval \(1.0\)"):
        Worker(a_flow(), "postgresql://unused", heartbeat_interval=1.0, dead_worker_timeout=timeout)


def test_maintain_defaults_are_the_workers() -> None:
    assert maintain.DEAD_WORKER_HEARTBEATS == defaults.DEFAULT_DEAD_WORKER_HEARTBEATS
    assert maintain.DEAD_AFTER == defaults.DEFAULT_DEAD_WORKER_HEARTBEATS * defaults.DEFAULT_HEARTBEAT_INTERVAL
    assert maintain.FUNCTION_NAME == defaults.DEFAULT_FUNCTION_NAME


async def test_maintenance_runs_each_job_at_its_own_pace_in_list_order() -> None:
    order: list[str] = []
    fast_runs = asyncio.Event()

    def job(name: str) -> Any:
        async def run() -> None:
            order.append(name)
            if order.count("fast") >= 5:
                fast_runs.set()

        return run

    service = Maintenance([MaintenanceJob("slow", job("slow")), MaintenanceJob("fast", job("fast"), every=0.001)],
                          interval=3600)
    task = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(fast_runs.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert order[:2] == ["slow", "fast"], "jobs due together run in list order"
    assert order.count("slow") == 1, "the slow job waits for its own interval"
