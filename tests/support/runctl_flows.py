"""Flows for the run-control tests with real worker processes
(tests/integration/worker/test_run_control_processes.py), served by tests/support/worker_main.py
as ``tests.support.runctl_flows:<name>``.

Every handler records one row per call in ``public.rc_calls`` (``create_calls_table``): the run,
step, task index and attempt, so a test counts how often a handler ran. Files in $REL_DIR steer
them: ``open`` releases handlers that hold (``{"hold": true}`` elements), ``fixed`` makes the
failing ``finish`` step of rc_chain succeed.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import psycopg

from pgflow.dsl import Flow
from pgflow.types import Context
from pgflow.worker import RetryAfter

CALLS_DDL = """
create table if not exists public.rc_calls (
    run_id uuid not null,
    step text not null,
    idx int not null,
    attempt int not null,
    at timestamptz not null default clock_timestamp()
)
"""


def create_calls_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute(CALLS_DDL)


def _record_sync(ctx: Context) -> None:
    with psycopg.connect(os.environ["REL_DSN"], autocommit=True) as c:
        c.execute(
            "insert into public.rc_calls (run_id, step, idx, attempt) values (%s, %s, %s, %s)",
            (ctx.run_id, ctx.step_slug, ctx.task_index, ctx.task.attempts_count),
        )


async def _record(ctx: Context) -> None:
    async with await psycopg.AsyncConnection.connect(os.environ["REL_DSN"], autocommit=True) as c:
        await c.execute(
            "insert into public.rc_calls (run_id, step, idx, attempt) values (%s, %s, %s, %s)",
            (ctx.run_id, ctx.step_slug, ctx.task_index, ctx.task.attempts_count),
        )


def _file(name: str) -> Path:
    return Path(os.environ["REL_DIR"]) / name


async def _until(name: str) -> None:
    while not _file(name).exists():
        await asyncio.sleep(0.02)


# rc_map: one root map; elements {"hold": true} wait for $REL_DIR/open.
map_flow = Flow("rc_map", max_attempts=1)


@map_flow.map("each")
async def each(element: dict[str, Any], ctx: Context) -> int:
    await _record(ctx)
    if element.get("hold"):
        await _until("open")
    return int(element["i"])


# rc_chain: prep -> each (map of 5) -> finish, which fails until $REL_DIR/fixed exists.
chain_flow = Flow("rc_chain", max_attempts=1)


@chain_flow.step("prep")
async def prep(run: dict[str, Any], ctx: Context) -> list[int]:
    await _record(ctx)
    return list(range(run["n"]))


@chain_flow.map("double", array="prep")
async def double(i: int, ctx: Context) -> int:
    await _record(ctx)
    return i * 10


@chain_flow.step("finish", depends_on=["double"])
async def finish(deps: dict[str, list[int]], ctx: Context) -> int:
    await _record(ctx)
    if not _file("fixed").exists():
        raise RuntimeError("finish is not fixed yet")
    return sum(deps["double"])


# rc_timeout: each step's first attempt misbehaves; timeout 3 s, 2 attempts, 1 s base delay.
timeout_flow = Flow("rc_timeout", max_attempts=2, base_delay=1, timeout=3)


@timeout_flow.step("slow_async")
async def slow_async(run: Any, ctx: Context) -> str:
    await _record(ctx)
    if ctx.task.attempts_count == 1:
        await asyncio.sleep(60)  # cancelled at the step's timeout
    return "async ok"


@timeout_flow.step("slow_sync")
def slow_sync(run: Any, ctx: Context) -> str:
    _record_sync(ctx)
    if ctx.task.attempts_count == 1:
        time.sleep(6)  # abandoned at the step's timeout: the thread runs on, its result is dropped
        return "late"
    return "sync ok"


@timeout_flow.step("extended")
async def extended(run: Any, ctx: Context) -> str:
    await _record(ctx)
    await ctx.extend(20)
    await asyncio.sleep(5)  # past the step's 3 s, within the extension
    return "extended ok"


@timeout_flow.step("extended_sync")
def extended_sync(run: Any, ctx: Context) -> str:
    _record_sync(ctx)
    ctx.extend_sync(20)
    time.sleep(5)
    return "extended sync ok"


@timeout_flow.step("limited", base_delay=60)
async def limited(run: Any, ctx: Context) -> str:
    await _record(ctx)
    if ctx.task.attempts_count == 1:
        raise RetryAfter(1, "HTTP 429")  # the step's own backoff would be 120 s
    return "limited ok"


# rc_busy: one root map of plain work (and, for {"hold": true}, a wait for $REL_DIR/open); the
# shape bench.pruned_history.prefill writes, so old finished runs of it can be made in bulk.
busy_flow = Flow("rc_busy", max_attempts=3, base_delay=1)


@busy_flow.map("each")
async def busy_each(element: Any) -> int:
    if isinstance(element, dict):
        if element.get("hold"):
            await _until("open")
        return int(element["i"]) * 2
    return int(element) * 2
