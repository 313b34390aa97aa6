"""The worker child of ``pgflow dev``: ``python -m pgflow.dev.worker_main --dsn URL MODULE:FLOW...``.

Loads the flows (a fresh import: this process is new after every change), compiles each one with
``allow_data_loss`` (an unchanged flow is verified and keeps its runs; a changed one is deleted
with its runs and created again; see pgflow.dev), says what it did, and serves the flows until
SIGTERM/SIGINT (drain, then stop). Prints ``pgflow dev: worker ready: <slugs>`` once it polls.
Exit 1 when a flow cannot be loaded or compiled (``pgflow dev`` then waits for the next change).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pgflow.errors import PgflowError

if TYPE_CHECKING:
    from pgflow.dsl import Flow

__all__ = ["main"]

DEV_SHUTDOWN_GRACE = 5.0
"""Seconds the dev worker waits for in-flight tasks when it restarts or stops."""


def _say(msg: str) -> None:
    print(f"pgflow dev: {msg}", file=sys.stderr, flush=True)


async def _compile(dsn: str, flows: Sequence[Flow]) -> None:
    import psycopg

    from pgflow.client import AsyncPgflowSqlClient
    from pgflow.types import CompileStatus

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        for flow in flows:
            result = await client.ensure_flow_compiled(flow.slug, flow.shape(), allow_data_loss=True)
            if result.status is CompileStatus.RECOMPILED:
                _say(f"flow {flow.slug!r} changed ({'; '.join(result.differences)}): deleted with its runs "
                     "and compiled again")
            elif result.status is CompileStatus.COMPILED:
                _say(f"flow {flow.slug!r} compiled ({len(flow.steps)} step(s))")
            else:
                _say(f"flow {flow.slug!r} unchanged")


async def _serve(dsn: str, flows: Sequence[Flow]) -> int:
    from pgflow.cli.signals import run_until_signalled
    from pgflow.worker import Worker

    await _compile(dsn, flows)
    worker = Worker(flows, dsn, compile="verify", shutdown_grace=DEV_SHUTDOWN_GRACE)

    async def announce() -> None:
        await worker.started.wait()
        _say(f"worker ready: {', '.join(worker.flows)}")

    announcing = asyncio.create_task(announce())
    try:
        return await run_until_signalled(worker)
    finally:
        announcing.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgflow.dev.worker_main",
                                     description="The worker child of `pgflow dev`.")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("flows", metavar="MODULE:FLOW", nargs="+")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from pgflow.cli.flows import load_flow

    try:
        flows = [load_flow(spec) for spec in args.flows]
        return asyncio.run(_serve(args.dsn, flows))
    except (PgflowError, ValueError) as exc:  # ValueError: e.g. the same flow slug twice
        _say(f"worker cannot start: {exc}")
        return 1
    except Exception as exc:
        import psycopg

        if not isinstance(exc, psycopg.Error):
            raise
        _say(f"worker cannot start: database error: {str(exc).strip()}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
