"""The benchmark flows, built in the parent to compile them and in each worker process to run them."""

from __future__ import annotations

import time
from typing import Any


def build_flow(kind: str, slug: str) -> Any:
    """The benchmark flows: ``single`` (one step), ``chain`` (5 steps in a row), ``map`` (root
    map then a join), ``latency`` (one step whose output is the handler's start time)."""
    from pgflow.dsl import Flow

    flow = Flow(slug)
    if kind == "single":

        @flow.step("only")
        async def only(_input: Any) -> Any:
            return 1

    elif kind == "chain":
        prev: list[str] = []
        for i in range(5):

            async def step(_input: Any) -> Any:
                return 1

            flow.step(f"s{i}", depends_on=prev)(step)
            prev = [f"s{i}"]
    elif kind == "map":

        @flow.map("each")
        async def each(item: Any) -> Any:
            return item

        @flow.step("join", depends_on=["each"])
        async def join(deps: Any) -> Any:
            return len(deps["each"])

    elif kind == "latency":

        @flow.step("only")
        async def stamp(_input: Any) -> Any:
            return {"t": time.monotonic()}  # CLOCK_MONOTONIC: one clock for every process

    else:
        raise ValueError(f"unknown flow kind {kind!r}")
    return flow
