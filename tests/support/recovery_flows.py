"""Flows of the dead-worker recovery tests (tests/reliability/test_dead_worker_recovery.py) and of
the kill-every-few-seconds benchmark (tests/bench/recovery_chaos.py), served by worker processes
like those of reliability_flows.py and recording into the same side-effect table
(`rel_effects`, one row per handler *execution*), but at the handler's entry: its `at` column is
when that execution began, so a test reads from the database when a killed worker's task was
running again elsewhere.

Holding (environment of the worker process):
  REL_HOLD="step:i,..."  the first execution of those tasks, in whichever process gets it,
                         creates <REL_DIR>/held/<tag>.<step>.<i> (exclusively; its content is
                         the pid) and then waits until <REL_DIR>/open exists; any later execution
                         of the same task (after a requeue) runs through. So every process can
                         carry the same setting and the test learns from the file which process
                         to kill.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from pgflow.dsl import Flow
from tests.support.reliability_flows import _record


def _held_by_me(tag: str, step: str, idx: int) -> bool:
    """True for the one execution that must hold this task (the first one to get here)."""
    wanted = {item for item in os.environ.get("REL_HOLD", "").split(",") if item}
    if f"{step}:{idx}" not in wanted:
        return False
    held = Path(os.environ["REL_DIR"]) / "held"
    held.mkdir(exist_ok=True)
    try:
        fd = os.open(held / f"{tag}.{step}.{idx}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(str(os.getpid()))
    return True


async def _hold(tag: str, step: str, idx: int) -> None:
    if not _held_by_me(tag, step, idx):
        return
    opened = Path(os.environ["REL_DIR"]) / "open"
    while not opened.exists():
        await asyncio.sleep(0.02)


def held_by(tmp: Path, tag: str, step: str, idx: int) -> int | None:
    """pid of the process whose execution holds the task, once one does."""
    path = tmp / "held" / f"{tag}.{step}.{idx}"
    text = path.read_text() if path.exists() else ""
    return int(text) if text else None


# ------------------------------------------------------------------------------------------
# held: one root map. A long timeout (60 s), so that requeue_stalled_tasks (flow timeout + 30 s)
# cannot be what recovers a killed worker's task during a test.
# input: [{"tag": t, "i": 0}, ..., {"tag": t, "i": k-1}]
# ------------------------------------------------------------------------------------------

held = Flow("rel_held", max_attempts=3, base_delay=1, timeout=60)


@held.map("work")
async def work(el: dict[str, Any]) -> dict[str, Any]:
    await _record(el["tag"], "work", el["i"])
    await _hold(el["tag"], "work", el["i"])
    return {"i": el["i"], "v": 10 * el["i"]}


def held_input(tag: str, k: int) -> list[dict[str, Any]]:
    return [{"tag": tag, "i": i} for i in range(k)]


def held_output(k: int) -> list[dict[str, Any]]:
    return [{"i": i, "v": 10 * i} for i in range(k)]


# ------------------------------------------------------------------------------------------
# burn: one root step whose *sync* handler keeps a CPU busy in pure Python for input["seconds"]
# (it holds the GIL but for the interpreter's switch interval), as a CPU-bound handler does.
# ------------------------------------------------------------------------------------------

burn = Flow("rel_burn", max_attempts=1, timeout=60)


def _spin(seconds: float) -> int:
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += sum(i * i for i in range(1000)) % 7
    return n


@burn.step("spin")
def spin(run: dict[str, Any]) -> dict[str, Any]:
    with psycopg.connect(os.environ["REL_DSN"], autocommit=True) as conn:
        conn.execute(
            "insert into public.rel_effects (execution, tag, step, idx, pid) values (%s, %s, 'spin', 0, %s)",
            (uuid.uuid4(), run["tag"], os.getpid()),
        )
    return {"spun": run["seconds"], "pid": os.getpid(), "n": _spin(float(run["seconds"]))}


# ------------------------------------------------------------------------------------------
# block: the same spin in an *async* handler: it blocks the worker's event loop (no await) for
# input["seconds"], as a CPU-bound coroutine does. Only a heartbeat off the loop keeps beating.
# ------------------------------------------------------------------------------------------

block = Flow("rel_block", max_attempts=1, timeout=60)


@block.step("spin")
async def block_spin(run: dict[str, Any]) -> dict[str, Any]:
    with psycopg.connect(os.environ["REL_DSN"], autocommit=True) as conn:
        conn.execute(
            "insert into public.rel_effects (execution, tag, step, idx, pid) values (%s, %s, 'spin', 0, %s)",
            (uuid.uuid4(), run["tag"], os.getpid()),
        )
    return {"spun": run["seconds"], "pid": os.getpid(), "n": _spin(float(run["seconds"]))}


# ------------------------------------------------------------------------------------------
# stall: one root step. In a worker process started with REL_STUCK=1 every execution records its
# entry and then never returns (the test kills that process); elsewhere it returns at once.
# input: {"tag": t}
# ------------------------------------------------------------------------------------------

stall = Flow("rel_stall", max_attempts=3, base_delay=1, timeout=60)


@stall.step("stuck")
async def stuck(run: dict[str, Any]) -> dict[str, Any]:
    await _record(run["tag"], "stuck", 0)
    while os.environ.get("REL_STUCK") == "1":
        await asyncio.sleep(0.05)
    return {"done": run["tag"]}


# ------------------------------------------------------------------------------------------
# chaos: one root map whose handlers take 0.2-1.0 s (so a kill every few seconds lands mid-task),
# timeout 5 s as in issue 21's run. Used by tests/bench/recovery_chaos.py.
# input: [{"tag": t, "i": 0, "ms": ...}, ...]
# ------------------------------------------------------------------------------------------

chaos = Flow("rel_chaos", max_attempts=3, base_delay=1, timeout=5)


@chaos.map("work")
async def chaos_work(el: dict[str, Any]) -> dict[str, Any]:
    await _record(el["tag"], "work", el["i"])
    await asyncio.sleep(el["ms"] / 1000)
    return {"i": el["i"]}
