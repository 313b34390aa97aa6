"""The entry point of every worker process the tests start (see tests/support/processes.py).

    python -m tests.support.worker_main --dsn URL --flow module:attr [--workers N]
                                        [--worker-id UUID] [--options JSON]
                                        [--clock-file PATH]

Runs N pgflow Worker instances (default 1) on one flow in one asyncio loop. SIGTERM/SIGINT ->
worker.stop() on each (graceful drain), installed with loop.add_signal_handler as an application
embedding the worker would. Prints "READY" once every worker polls and "STOPPING" when a signal
arrives (before the drain starts), each on its own stdout line. Logs go to stderr at INFO with
the logger name, so tests can grep them for deadlocks and tracebacks. Exit code 0 after a clean
stop, 1 when a worker.run() raised.
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
    p = argparse.ArgumentParser(prog="python -m tests.support.worker_main")
    p.add_argument("--dsn", required=True)
    p.add_argument("--flow", required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--worker-id", help="the worker id (only with --workers 1)")
    p.add_argument("--options", default="{}", help="Worker keyword arguments as a JSON object")
    p.add_argument("--clock-file", help="schedule_clock: the simulated instant in this file (tests/support/clock.py)")
    args = p.parse_args(argv)
    if args.worker_id and args.workers != 1:
        p.error("--worker-id needs --workers 1")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
    )
    from pgflow.worker import Worker

    flow = load(args.flow)
    options = json.loads(args.options)
    if args.worker_id:
        options["worker_id"] = args.worker_id
    if args.clock_file:
        from pathlib import Path

        from tests.support.clock import FileClock

        options["schedule_clock"] = FileClock(Path(args.clock_file))
    workers = [Worker(flow, args.dsn, **options) for _ in range(args.workers)]
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        print("STOPPING", flush=True)
        for w in workers:
            w.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    runs = [asyncio.create_task(w.run()) for w in workers]
    started = asyncio.gather(*(w.started.wait() for w in workers))
    await asyncio.wait({*runs, started}, return_when=asyncio.FIRST_COMPLETED)
    if started.done():
        print("READY", flush=True)
    else:
        started.cancel()
    results = await asyncio.gather(*runs, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    for r in failed:
        logging.getLogger("tests.worker_main").error("worker.run() raised", exc_info=r)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
