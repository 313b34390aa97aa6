"""Workers in the test's own process: fast options and ``running(worker)``.

FAST is the one set of quick timings the suite uses: short polls, frequent heartbeats, a short
drain on stop. A test that needs other values says so at the call site (``**{**FAST, ...}``);
FAULT_RECOVERY spells out, once, the values the reliability suite's worker processes need.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pgflow.worker import Worker

FAST: dict[str, Any] = {"heartbeat_interval": 0.2, "max_poll_seconds": 1, "shutdown_grace": 10.0}

# The reliability suite's worker processes: FAST, plus a maintenance sweep (requeue_stalled_tasks)
# every 0.2 s so recovery takes seconds once a task's clock is aged, small batches and a short
# visibility timeout so work spreads over processes, and a short drain so a stopped worker goes.
FAULT_RECOVERY: dict[str, Any] = {
    **FAST,
    "concurrency": 4,
    "batch_size": 4,
    "visibility_timeout": 2,
    "max_poll_seconds": 0.5,
    "poll_interval_ms": 50,
    "heartbeat_interval": 0.5,
    "maintenance_interval": 0.2,
    "shutdown_grace": 3,
}


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``worker`` in a task until the block ends, then stop it and wait for the drain. Fails
    at once with the worker's own error if it stops before it polls."""
    task = asyncio.create_task(worker.run())
    ready = asyncio.create_task(worker.started.wait())
    await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if task.done():
        task.result()  # raise what stopped it
    try:
        yield task
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)
