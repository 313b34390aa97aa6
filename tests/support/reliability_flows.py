"""Flows served by the reliability tests' worker processes, and their instrumented handlers.

Every handler records one side effect per *execution* in the test database table
`rel_effects` (created by `create_effects_table`): (tag, step, idx, execution uuid). A retried
insert of the same execution is idempotent (the execution uuid is the key), so the number of rows
for a task is exactly the number of times a handler ran it. State can hide a duplicate run of a
handler; this table cannot.

Inputs carry a `tag` (the test's name for the run) and the element index `i`, so handlers know
which task they are without looking at the worker's context object.

Gates (environment of the worker process):
  REL_GATE="step[:i],..."  handlers of those steps (optionally only element i) write
                           <REL_DIR>/entered/<tag>.<step>.<i>.<pid> and then wait until
                           <REL_DIR>/open exists (never, for a process that is to be killed).
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
from pgflow.types import Context

EFFECTS_DDL = """
create table if not exists public.rel_effects (
    execution uuid primary key,
    tag text not null,
    step text not null,
    idx int not null,
    pid int not null,
    at timestamptz not null default clock_timestamp()
)
"""


def create_effects_table(conn: psycopg.Connection) -> None:
    conn.execute(EFFECTS_DDL)


_conn: psycopg.AsyncConnection | None = None
_lock: asyncio.Lock | None = None


async def _record(tag: str, step: str, idx: int) -> None:
    """Insert one effect row, reconnecting through server restarts and killed backends."""
    global _conn, _lock
    _lock = _lock or asyncio.Lock()
    execution = uuid.uuid4()
    deadline = time.monotonic() + 90
    async with _lock:
        while True:
            try:
                if _conn is None or _conn.closed:
                    _conn = await psycopg.AsyncConnection.connect(os.environ["REL_DSN"], autocommit=True,
                                                                  connect_timeout=5)
                await _conn.execute(
                    "insert into public.rel_effects (execution, tag, step, idx, pid) values (%s, %s, %s, %s, %s) "
                    "on conflict (execution) do nothing",
                    (execution, tag, step, idx, os.getpid()),
                )
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                if _conn is not None:
                    await _conn.close()
                _conn = None
                await asyncio.sleep(0.1)


def _gated(step: str, idx: int) -> bool:
    for item in filter(None, os.environ.get("REL_GATE", "").split(",")):
        name, _, i = item.partition(":")
        if name == step and (i == "" or int(i) == idx):
            return True
    return False


async def _gate(tag: str, step: str, idx: int) -> None:
    if not _gated(step, idx):
        return
    base = Path(os.environ["REL_DIR"])
    (base / "entered").mkdir(exist_ok=True)
    (base / "entered" / f"{tag}.{step}.{idx}.{os.getpid()}").touch()
    while not (base / "open").exists():
        await asyncio.sleep(0.02)


async def _effect(tag: str, step: str, idx: int) -> None:
    await _gate(tag, step, idx)
    await _record(tag, step, idx)


# ------------------------------------------------------------------------------------------
# fan: root map, root single, two dependent maps, a join.  tasks per run = 3k + 2
# input: [{"tag": t, "i": 0}, ..., {"tag": t, "i": k-1}]
# ------------------------------------------------------------------------------------------

fan = Flow("rel_fan", max_attempts=3, base_delay=1, timeout=3)


@fan.map("items")
async def items(el: dict[str, Any]) -> dict[str, Any]:
    await _effect(el["tag"], "items", el["i"])
    return {"tag": el["tag"], "i": el["i"], "v": 2 * el["i"]}


@fan.step("seed")
async def seed(run: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tag = run[0]["tag"] if run else "empty"
    await _effect(tag, "seed", 0)
    return [{"tag": el["tag"], "i": el["i"]} for el in run]


@fan.map("pairs", array="items")
async def pairs(el: dict[str, Any]) -> dict[str, Any]:
    await _effect(el["tag"], "pairs", el["i"])
    return {"tag": el["tag"], "i": el["i"], "v": el["v"] + 1}


@fan.map("echo", array="seed")
async def echo(el: dict[str, Any]) -> dict[str, Any]:
    await _effect(el["tag"], "echo", el["i"])
    return {"tag": el["tag"], "i": el["i"], "e": 3 * el["i"]}


@fan.step("total", depends_on=["pairs", "echo"])
async def total(deps: dict[str, Any]) -> dict[str, Any]:
    tag = (deps["pairs"] or deps["echo"] or [{"tag": "empty"}])[0]["tag"]
    await _effect(tag, "total", 0)
    return {"tag": tag, "sum": sum(p["v"] for p in deps["pairs"]) + sum(e["e"] for e in deps["echo"])}


def fan_input(tag: str, k: int) -> list[dict[str, Any]]:
    return [{"tag": tag, "i": i} for i in range(k)]


def fan_tasks(k: int) -> dict[str, int]:
    return {"items": k, "seed": 1, "pairs": k, "echo": k, "total": 1}


def fan_expected(tag: str, k: int) -> dict[str, Any]:
    """Expected step outputs of a completed fan run: map outputs complete and in index order."""
    return {
        "items": [{"tag": tag, "i": i, "v": 2 * i} for i in range(k)],
        "seed": [{"tag": tag, "i": i} for i in range(k)],
        "pairs": [{"tag": tag, "i": i, "v": 2 * i + 1} for i in range(k)],
        "echo": [{"tag": tag, "i": i, "e": 3 * i} for i in range(k)],
        "total": {"tag": tag, "sum": sum(2 * i + 1 for i in range(k)) + sum(3 * i for i in range(k))},
    }


# ------------------------------------------------------------------------------------------
# bad: handlers that return what cannot be stored, or raise with text PostgreSQL cannot store.
# Every bad step has one attempt and when_exhausted="skip", so the run goes on without it.
# ------------------------------------------------------------------------------------------

bad = Flow("rel_bad", max_attempts=1, timeout=3)
BAD_OUTPUT_LIMIT = 1024  # the worker runs with max_output_bytes=BAD_OUTPUT_LIMIT
BAD_STEPS = {  # step -> text its error_message must contain
    "not_json": "JSON",
    "nan": "JSON",
    "too_big": "over the limit",
    "nul_output": "NUL",
    "nul_error": "bad",
    "bytes_error": "RuntimeError",
    "injection_error": "drop table public.rel_effects",
}


@bad.step("not_json", when_exhausted="skip")
def not_json(run: Any) -> Any:
    return {"x": object()}


@bad.step("nan", when_exhausted="skip")
def nan(run: Any) -> Any:
    return {"x": float("nan")}


@bad.step("too_big", when_exhausted="skip")
def too_big(run: Any) -> Any:
    return "x" * (BAD_OUTPUT_LIMIT + 1)


@bad.step("nul_output", when_exhausted="skip")
def nul_output(run: Any) -> Any:
    return {"s": "a\x00b"}


@bad.step("nul_error", when_exhausted="skip")
def nul_error(run: Any) -> Any:
    raise ValueError("bad \x00 NUL and \udcff lone surrogate")


@bad.step("bytes_error", when_exhausted="skip")
def bytes_error(run: Any) -> Any:
    raise RuntimeError(b"\xff\xfe\x00 not utf-8".decode("utf-8", "surrogateescape"))


@bad.step("injection_error", when_exhausted="skip")
def injection_error(run: Any) -> Any:
    raise RuntimeError("x'); drop table public.rel_effects; -- $$ %I %L")


@bad.step("ok")
def ok(run: Any) -> Any:
    return {"fine": True}


@bad.step("after", depends_on=[*BAD_STEPS, "ok"])
def after(deps: dict[str, Any]) -> Any:
    return deps


# ------------------------------------------------------------------------------------------
# ack: one task, two attempts. The worker started with REL_ROLE=first fails it (its error text
# carries the marker LOSE_ACK that the test's proxy watches for); REL_ROLE=second runs it
# behind the gate and succeeds. Held at the gate for longer than the step's 3 s timeout, which
# the worker enforces, it first asks for more time (ctx.extend), as a long handler must.
# ------------------------------------------------------------------------------------------

ack = Flow("rel_ack", max_attempts=2, base_delay=1, timeout=3)


@ack.step("flaky")
async def flaky(run: dict[str, Any], ctx: Context) -> dict[str, Any]:
    if os.environ.get("REL_ROLE") == "first":
        raise RuntimeError("LOSE_ACK first attempt failed")
    await ctx.extend(120)
    await _gate(run["tag"], "flaky", 0)
    return {"ok": True}
