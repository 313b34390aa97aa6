"""The README's Python example is real: it compiles, a worker runs it, and the run gives the output
the README promises."""

from __future__ import annotations

import asyncio
import importlib.util
import re
from pathlib import Path
from typing import Any

from pgflow.client import AsyncPgflowSqlClient
from pgflow.worker import Worker
from tests.support.paths import ROOT


def _readme_module(tmp_path: Path) -> Any:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(# flows\.py\n.*?)```", text, re.S)
    assert block, "the README lost its flows.py example"
    path = tmp_path / "readme_flows.py"
    path.write_text(block.group(1), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("readme_flows", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_readme_example_runs_end_to_end(db_dsn: str, tmp_path: Path) -> None:
    flow = _readme_module(tmp_path).greet
    worker = Worker([flow], db_dsn, maintenance_interval=0)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.started.wait(), 30)
        import psycopg

        async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
            client = AsyncPgflowSqlClient(conn)
            run = await client.start_flow("greet", {"first": "Ada", "last": "Lovelace"})
            final = await client.wait_for_run(run.run_id, timeout=60)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 60)
    assert final.run.status == "completed"
    assert final.run.output == {"greeting": "Hello, Ada Lovelace (ADALOVELACE)!"}
