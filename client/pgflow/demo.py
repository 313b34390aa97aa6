"""``pgflow demo``: the whole engine end to end in a throwaway PostgreSQL server.

Starts an embedded server, migrates it (pgmq included), compiles the example flow
:mod:`pgflow.examples.article_digest`, runs a worker in this process, starts a run, prints every
run/step event as it arrives on the ``pgflow`` NOTIFY channel, prints the output, and stops the
worker and the server. Exit 0 when the run completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from typing import Any, TextIO

from pgflow.cli.progress import EventPrinter
from pgflow.errors import PgflowError

EXIT_OK = 0
EXIT_FAILED = 1


class _Printer:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.events = EventPrinter(self)

    def __call__(self, msg: str = "") -> None:
        print(msg, file=self.stream, flush=True)

    def event(self, ev: dict[str, Any]) -> None:
        self.events.event(ev)


async def _run(dsn: str, input_: dict[str, Any], timeout: float, out: _Printer) -> int:
    import psycopg

    from pgflow.client import AsyncPgflowSqlClient
    from pgflow.examples.article_digest import flow
    from pgflow.worker import Worker

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for stmt in flow.compile():
            await conn.execute(stmt)  # our own compiled SQL, no parameters
        names = [s.slug + (" (map)" if s.step_type == "map" else "") for s in flow.steps.values()]
        out(f"compiled flow {flow.slug!r}: {len(names)} steps: {', '.join(names)}")

        worker = Worker([flow], dsn)
        worker_task = asyncio.create_task(worker.run(), name="pgflow-demo-worker")
        out("worker started (in this process)")

        await conn.execute("listen pgflow")
        run_id = uuid.uuid4()
        out(f"starting run {run_id} with input {json.dumps(input_)}")
        out()
        client = AsyncPgflowSqlClient(conn)
        await client.start_flow(flow.slug, input_, run_id)

        status = "started"
        deadline = time.monotonic() + timeout
        try:
            while status == "started":
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if worker_task.done():  # the worker died: say why instead of waiting out the timeout
                    worker_task.result()
                    raise PgflowError("the worker stopped before the run finished")
                async for n in conn.notifies(timeout=min(left, 1.0)):
                    try:
                        ev = json.loads(n.payload)
                    except ValueError:
                        continue
                    if ev.get("run_id") != str(run_id):
                        continue
                    out.event(ev)
                    if ev.get("event") in ("run:completed", "run:failed"):
                        status = str(ev["event"]).split(":")[1]
                        break
        finally:
            worker.stop()
            try:
                await asyncio.wait_for(worker_task, timeout=15)
            except (TimeoutError, asyncio.CancelledError):
                worker_task.cancel()
                with contextlib.suppress(BaseException):
                    await worker_task

        state = await client.get_run(run_id)  # the full output (NOTIFY payloads may be truncated)
    out()
    out("worker stopped")
    if state is None:
        raise PgflowError(f"run {run_id} disappeared")
    run = state.run
    took = (run.completed_at or run.failed_at or run.started_at) - run.started_at
    if run.status == "completed":
        out(f"run completed in {took.total_seconds():.2f}s; output:")
        out(json.dumps(run.output, indent=2, ensure_ascii=False))
        return EXIT_OK
    if run.status == "failed":
        out("run FAILED:")
        for s in state.steps:
            if s.status == "failed":
                out(f"  step {s.step_slug}: {s.error_message}")
        return EXIT_FAILED
    out(f"run did not finish within {timeout:g}s (status {run.status})")
    return EXIT_FAILED


def main(
    *,
    topic: str = "postgres",
    limit: int = 4,
    timeout: float = 60.0,
    stream: TextIO | None = None,
) -> int:
    """Run the demo; returns the process exit code. Raises PgflowError when the server cannot be
    started or migrated."""
    from pgflow import migrator
    from pgflow.embedded import EmbeddedPostgres

    out = _Printer(stream or sys.stdout)
    out("pgflow demo: article_digest (fetch -> summarise each | word counts | keywords -> digest)")
    pg = EmbeddedPostgres()
    try:
        pg.start()
        pg.wait_ready()
        out(f"started a throwaway PostgreSQL on 127.0.0.1:{pg.port} ({pg.basedir})")
        applied = migrator.migrate(pg.dsn)
        out(f"migrated: pgmq + {len(applied)} pgflow migration(s)")
        return asyncio.run(_run(pg.dsn, {"topic": topic, "limit": limit}, timeout, out))
    finally:
        pg.stop()
        out("stopped PostgreSQL; removed its data directory")


if __name__ == "__main__":
    sys.exit(main())
