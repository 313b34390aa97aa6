"""The dashboard under test: a real uvicorn serving pgflow.ui on a free port, in a thread, against a
fresh migrated database; and helpers that make flows and drive runs through the SQL API."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from pgflow.ui import create_app
from tests.support.waiting import wait_until

TOKEN = "s3cret-token"
WORKER_ID = "00000000-0000-0000-0000-0000000000a1"


@dataclass
class UiServer:
    url: str
    dsn: str
    server: uvicorn.Server

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=10, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(dsn: str, *, token: str | None = TOKEN, read_only: bool = False) -> Iterator[UiServer]:
    app = create_app(dsn, token=token, read_only=read_only)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if not thread.is_alive():
            raise AssertionError("the dashboard's server thread died while starting")
        try:
            return httpx.get(url + "/healthz", timeout=2).text == "ok"
        except httpx.HTTPError:
            return False

    wait_until("the dashboard to answer /healthz", healthy, timeout=30)
    try:
        yield UiServer(url=url, dsn=dsn, server=server)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "the dashboard's server did not stop"


@pytest.fixture
def ui(db_dsn: str) -> Iterator[UiServer]:
    yield from start_server(db_dsn)


@pytest.fixture
def ui_read_only(db_dsn: str) -> Iterator[UiServer]:
    yield from start_server(db_dsn, token=None, read_only=True)


# ---- driving runs through the SQL API ---------------------------------------------------------

def make_flow(conn: psycopg.Connection[Any], slug: str, steps: list[tuple[str, list[str], str]]) -> None:
    """Create a flow; steps are (slug, deps, step_type)."""
    conn.execute("select pgflow.create_flow(%s, max_attempts => 1, base_delay => 0)", (slug,))
    for step, deps, step_type in steps:
        conn.execute("select pgflow.add_step(%s, %s, deps_slugs => %s, step_type => %s)",
                     (slug, step, deps, step_type))


def start_run(conn: psycopg.Connection[Any], flow: str, value: Any) -> uuid.UUID:
    row = conn.execute("select run_id from pgflow.start_flow(%s, %s::jsonb)", (flow, json.dumps(value))).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def claim(conn: psycopg.Connection[Any], flow: str, qty: int = 100) -> list[tuple[uuid.UUID, str, int]]:
    """Read and start every visible task of the flow as one worker: (run_id, step_slug, task_index)."""
    conn.execute("insert into pgflow.workers (worker_id, queue_name, function_name) values (%s, %s, 'tests') "
                 "on conflict (worker_id) do nothing", (WORKER_ID, flow))
    ids = [r[0] for r in conn.execute("select msg_id from pgmq.read(%s, 30, %s)", (flow, qty)).fetchall()]
    rows = conn.execute("select run_id, step_slug, task_index from pgflow.start_tasks(%s, %s::bigint[], %s)",
                        (flow, ids, WORKER_ID)).fetchall()
    return [(uuid.UUID(str(r[0])), r[1], r[2]) for r in rows]


def complete(conn: psycopg.Connection[Any], run_id: uuid.UUID, step: str, index: int, output: Any) -> None:
    conn.execute("select from pgflow.complete_task(%s, %s, %s, %s::jsonb)", (run_id, step, index, json.dumps(output)))


def fail(conn: psycopg.Connection[Any], run_id: uuid.UUID, step: str, index: int, error: str) -> None:
    conn.execute("select from pgflow.fail_task(%s, %s, %s, %s)", (run_id, step, index, error))
