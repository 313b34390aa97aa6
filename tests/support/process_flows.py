"""Flows for the worker process tests (tests/integration/worker/), served
by tests/support/worker_main.py as ``tests.support.process_flows:<name>``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from pgflow.dsl import Flow

# proc_drain: one step that runs until the file named by $PGFLOW_TEST_GATE exists, so a test
# can hold a task in flight while it signals the worker.
drain_flow = Flow("proc_drain")


@drain_flow.step("slow")
async def slow(inp: Any) -> dict[str, Any]:
    gate = Path(os.environ["PGFLOW_TEST_GATE"])
    while not gate.exists():
        await asyncio.sleep(0.02)
    return {"done": True, "input": inp}


# proc_bulk: two steps, one async and one sync, for the many-runs, many-workers test.
bulk_flow = Flow("proc_bulk")


@bulk_flow.step("a")
async def a(inp: dict[str, int]) -> int:
    return inp["i"]


@bulk_flow.step("b", depends_on=["a"])
def b(deps: dict[str, int]) -> int:
    return deps["a"] * 2


# proc_sched: a flow the tests schedule themselves; its one step returns the time it was
# scheduled for (from the run input tick_schedules gives it).
sched_flow = Flow("proc_sched")


@sched_flow.step("stamp")
def stamp(inp: dict[str, Any]) -> str:
    return str(inp["scheduled_for"])


# proc_scheduled: a flow with its schedule in its definition; the worker creates it on start.
scheduled_flow = Flow("proc_scheduled", schedule="* * * * *")


@scheduled_flow.step("stamp")
def scheduled_stamp(inp: dict[str, Any]) -> dict[str, Any]:
    return {"scheduled_for": inp["scheduled_for"], "input": inp}
