"""`python -m pgflow.ui` as a real process: it serves, reads its token from the environment, and
SIGTERM stops it (lifespan shutdown complete) even with a browser's event stream open."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

import httpx
import psycopg

from tests.support.waiting import wait_until
from tests.ui.conftest import make_flow, start_run


def test_the_module_serves_until_sigterm(db_dsn: str, conn: psycopg.Connection[Any]) -> None:
    make_flow(conn, "proc", [("a", [], "single")])
    run_id = start_run(conn, "proc", {})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PGFLOW_UI_TOKEN": "from-env"}
    proc = subprocess.Popen([sys.executable, "-m", "pgflow.ui", "--dsn", db_dsn, "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                return httpx.get(url + "/healthz", timeout=2).text == "ok"
            except httpx.HTTPError:
                return False

        wait_until("python -m pgflow.ui to answer", up, timeout=30)
        assert str(run_id) in httpx.get(url + "/runs", timeout=10).text
        r = httpx.post(url + "/flows/proc/start", data={"input": "{}", "token": "from-env"}, timeout=10)
        assert r.status_code == 303
        hello = threading.Event()

        def listen() -> None:
            try:
                with httpx.stream("GET", f"{url}/runs/{run_id}/events", timeout=30) as stream:
                    for line in stream.iter_lines():
                        if line.startswith("event: hello"):
                            hello.set()
            except httpx.HTTPError:
                pass  # the server closes the stream when it stops

        threading.Thread(target=listen, daemon=True).start()
        assert hello.wait(15)
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down (closing the open stream), then re-raises the signal it caught
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        out = proc.stdout.read() if proc.stdout else ""
        assert "Application shutdown complete" in out, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
