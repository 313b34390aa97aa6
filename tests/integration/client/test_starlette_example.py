"""The Starlette example (client/pgflow/examples/starlette_app.py) run as a user runs it: uvicorn
in a process of its own, real HTTP requests through httpx, SIGTERM to stop it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg

from tests.support.paths import ROOT, subprocess_env
from tests.support.waiting import wait_until


def test_the_example_app_starts_runs_over_http_and_its_worker_stops_with_it(db_dsn: str, tmp_path: Path) -> None:
    log = tmp_path / "uvicorn.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "pgflow.examples.starlette_app:app", "--host", "127.0.0.1",
             "--port", "0"],
            cwd=ROOT, env=subprocess_env({"DATABASE_URL": db_dsn}), stdout=fh, stderr=subprocess.STDOUT,
        )

    def output() -> str:
        return log.read_text(encoding="utf-8", errors="replace")

    def started() -> str | None:
        if proc.poll() is not None:
            raise AssertionError(f"uvicorn exited ({proc.returncode}):\n{output()}")
        m = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", output())
        return m.group(1) if m and "Application startup complete." in output() else None

    try:
        base = wait_until("the app to start (its lifespan runs the worker)", started, timeout=60)
        with httpx.Client(base_url=base, timeout=30) as http:
            created = http.post("/welcome", json={"name": " ada lovelace ", "email": "Ada@Example.COM"})
            assert created.status_code == 202, created.text
            run_id = created.json()["run_id"]

            shown = http.get(f"/runs/{run_id}", params={"wait": 20})
            assert shown.status_code == 200, shown.text
            assert shown.json() == {
                "run_id": run_id,
                "status": "completed",
                "output": {"message": "Welcome, Ada Lovelace! A confirmation is on its way to ada@example.com."},
            }

            bad = http.post("/welcome", json={"name": "no email"})
            assert bad.status_code == 400 and "email" in bad.json()["error"]
            missing = http.get("/runs/00000000-0000-0000-0000-000000000000")
            assert missing.status_code == 404
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    # uvicorn (0.29+) shuts down cleanly, then re-raises the signal it caught: exit 0 or -SIGTERM
    assert code in (0, -signal.SIGTERM), output()
    assert "Application shutdown complete." in output()
    assert "Traceback" not in output()
    with psycopg.connect(db_dsn) as conn:  # the worker said goodbye: a drained stop, not a crash
        rows = conn.execute("select queue_name, stopped_at is not null from pgflow.workers").fetchall()
    assert rows == [("welcome", True)]
