"""Running a worker until the process is told to stop: the first SIGTERM/SIGINT drains, a second
one aborts. Signal handling lives here, not in the worker, so the worker embeds in any application."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
from typing import Any

from pgflow.cli.runtime import EXIT_INTERRUPTED, EXIT_OK, err


async def run_until_signalled(worker: Any) -> int:
    """Run ``worker.run()``; the first SIGTERM/SIGINT calls ``worker.stop()`` (graceful drain),
    a second one cancels the run. Returns the process exit code."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    signals_seen: list[str] = []
    pending: set[asyncio.Future[Any]] = set()

    def on_signal(name: str) -> None:
        signals_seen.append(name)
        if len(signals_seen) > 1:
            err(f"pgflow worker: {name} again: aborting without waiting for in-flight tasks")
            main.cancel()
            return
        err(f"pgflow worker: {name}: finishing in-flight tasks (send it again to abort)")
        result = worker.stop()
        if inspect.isawaitable(result):
            fut = asyncio.ensure_future(result)
            pending.add(fut)
            fut.add_done_callback(pending.discard)

    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread / Windows
            loop.add_signal_handler(sig, on_signal, sig.name)
            installed.append(sig)
    try:
        await worker.run()
    except asyncio.CancelledError:
        if len(signals_seen) > 1:
            return EXIT_INTERRUPTED
        raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return EXIT_OK
