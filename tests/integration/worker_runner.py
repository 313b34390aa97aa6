"""Runs one pgflow Worker in its own process, for the subprocess tests.

    python -m tests.integration.worker_runner --dsn URL --flow module:attr --worker-id UUID [--options JSON]

SIGTERM/SIGINT -> worker.stop() (graceful drain), installed with loop.add_signal_handler as an
application embedding the worker would. Prints "READY" once the worker polls and "STOPPING"
when a signal arrives (before the drain starts), each on its own stdout line. Exit code 0 after
a clean stop, 1 when worker.run() raised.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import signal
import sys
from typing import Any


def load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", required=True)
    p.add_argument("--flow", required=True)
    p.add_argument("--worker-id", required=True)
    p.add_argument("--options", default="{}")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
    )
    from pgflow.worker import Worker

    worker = Worker(load(args.flow), args.dsn, worker_id=args.worker_id, **json.loads(args.options))
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        print("STOPPING", flush=True)
        worker.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    run = asyncio.create_task(worker.run())
    started = asyncio.create_task(worker.started.wait())
    await asyncio.wait({run, started}, return_when=asyncio.FIRST_COMPLETED)
    if started.done():
        print("READY", flush=True)
    else:
        started.cancel()
    try:
        await run
    except Exception:
        logging.getLogger("worker_runner").exception("worker.run() raised")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
