"""A worker process for the reliability tests.

    python -m tests.reliability._worker_main --dsn URL --flow module:attr [--workers N] [--options JSON]

Runs N pgflow Worker instances (one asyncio loop) on one flow until SIGTERM/SIGINT, then stops
them (graceful drain). Logging goes to stderr at INFO with the logger name, so the tests can
grep the captured log for deadlocks and tracebacks. Prints "READY" once the workers run.
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
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--options", default="{}")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")

    from pgflow.worker import Worker

    flow = load(args.flow)
    options = json.loads(args.options)
    workers = [Worker([flow], args.dsn, **options) for _ in range(args.workers)]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: [w.stop() for w in workers])
    tasks = [asyncio.create_task(w.run()) for w in workers]
    print("READY", flush=True)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    for r in failed:
        logging.getLogger("reliability.worker_main").error("worker.run() raised", exc_info=r)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
